from __future__ import annotations

from impl.kit.errors import (
    BadRequest,
    Conflict,
    NotFound,
    UnprocessableContent,
)


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


class RefreshTokenReusedError(InvalidGrantError):
    """A used refresh token came back: someone holds a copy. Its whole family is revoked, and
    that revocation must survive the refusal."""

    keeps_changes = True

    def __init__(self) -> None:
        super().__init__("This refresh token was already used; sign in again")


class UserNotFoundError(NotFound):
    def __init__(self) -> None:
        super().__init__("User not found")


class SelfDeactivationError(Conflict):
    def __init__(self) -> None:
        super().__init__("Admins cannot deactivate their own account")


class UnknownTimezoneError(UnprocessableContent):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"Unknown time zone {name!r}: use an IANA name such as Europe/Paris",
            extensions={
                "errors": [
                    {
                        "pointer": "/body/timezone",
                        "message": "unknown time zone",
                        "code": "timezone",
                    }
                ]
            },
        )
