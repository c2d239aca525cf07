from __future__ import annotations

from impl.kit.errors import Conflict, NotFound, UnprocessableContent, invalid_value


class OrderNotFoundError(NotFound):
    def __init__(self) -> None:
        super().__init__("Order not found")


class IllegalTransitionError(Conflict):
    """The action is not allowed from the order's current state."""

    def __init__(self, action: str, current: str) -> None:
        super().__init__(
            f"Cannot {action} an order that is {current}",
            extensions={"current_status": current},
        )


class OrderModifiedError(Conflict):
    def __init__(self) -> None:
        super().__init__("The order was changed by another request; fetch it and retry")


class IdempotencyKeyReusedError(UnprocessableContent):
    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was already used with a different request body; "
            "use a new key for a new request",
            extensions=invalid_value(
                "/header/Idempotency-Key", "key reused with another body", "idempotency_key_reused"
            ),
        )


class InvalidLineError(UnprocessableContent):
    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(
            f"Line {index}: {message}",
            extensions=invalid_value(f"/body/lines/{index}/{field}", message, "invalid_line"),
        )


class OrderContendedError(Conflict):
    """An order's statement was stopped each time it was tried, and what stopped it was gone
    each time it was looked at (stock taken and given back, a key held by a request that
    failed): rare, and worth a retry by the client."""

    def __init__(self) -> None:
        super().__init__("Other requests kept changing this order's stock or key; retry")
