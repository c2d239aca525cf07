from __future__ import annotations

from impl.kit.errors import (
    Conflict,
    Forbidden,
    NotFound,
    UnprocessableContent,
)


class TeamNotFoundError(NotFound):
    def __init__(self) -> None:
        super().__init__("Team not found")


class TeamRoleForbiddenError(Forbidden):
    def __init__(self, role: str) -> None:
        super().__init__(f"A team {role} may not do this")
        self.role = role


class TeamModifiedError(Conflict):
    """Another request changed or deleted the team between our read and our write."""

    def __init__(self) -> None:
        super().__init__("The team was changed by another request; fetch it and retry")


class MemberNotFoundError(NotFound):
    def __init__(self) -> None:
        super().__init__("This user is not a member of the team")


class AlreadyMemberError(Conflict):
    def __init__(self) -> None:
        super().__init__("This user is already a member of the team")


class LastOwnerError(Conflict):
    def __init__(self) -> None:
        super().__init__(
            "A team needs at least one owner: make someone else an owner first, or delete the team"
        )


class OwnersOnlyError(Forbidden):
    def __init__(self) -> None:
        super().__init__("Only owners may grant, change or remove the owner role")


class NoSuchAccountError(UnprocessableContent):
    def __init__(self) -> None:
        super().__init__(
            "No active account uses this email",
            extensions={
                "errors": [
                    {"pointer": "/body/email", "message": "no such account", "code": "unknown"}
                ]
            },
        )
