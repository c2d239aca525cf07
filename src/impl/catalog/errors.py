from __future__ import annotations

from impl.kit.errors import Conflict, NotFound, PreconditionFailed


class ProductNotFoundError(NotFound):
    def __init__(self) -> None:
        super().__init__("Product not found")


class SkuTakenError(Conflict):
    field = "sku"

    def __init__(self) -> None:
        super().__init__("A product with this SKU already exists in the team")


class ProductModifiedError(PreconditionFailed):
    def __init__(self) -> None:
        super().__init__("The product has changed since it was read; fetch it again")


class ProductNotDeletedError(Conflict):
    def __init__(self) -> None:
        super().__init__("The product is not deleted")
