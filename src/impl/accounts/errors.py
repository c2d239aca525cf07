from __future__ import annotations

from impl.kit.errors import BadRequest, Conflict


class EmailTakenError(Conflict):
    field = "email"

    def __init__(self) -> None:
        super().__init__("A user with this email already exists")


class UsernameTakenError(Conflict):
    field = "username"

    def __init__(self) -> None:
        super().__init__("A user with this username already exists")


class InvalidGrantError(BadRequest):
    """OAuth2 `invalid_grant` (RFC 6749 §5.2): the same answer for every kind of bad login."""

    def __init__(self, detail: str = "Invalid email or password") -> None:
        super().__init__(detail, extensions={"error": "invalid_grant"})
