from __future__ import annotations

import uuid

from impl.kit.errors import Conflict


class InsufficientStockError(Conflict):
    """A movement would take a product's stock below zero."""

    def __init__(self, product_id: uuid.UUID, on_hand: int, requested: int) -> None:
        super().__init__(
            f"Not enough stock of product {product_id}: {on_hand} on hand, {requested} needed",
            extensions={
                "product_id": str(product_id),
                "on_hand": on_hand,
                "requested": requested,
            },
        )
