from __future__ import annotations

from impl.kit.errors import Conflict, Forbidden, NotFound


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
