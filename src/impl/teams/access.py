from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TeamAccess:
    """A member's checked access to one team: only the request context makes these.

    Team-scoped services take it instead of a team id, so they cannot be called for a team
    whose membership nobody checked.
    """

    team_id: uuid.UUID
    user_id: uuid.UUID
    role: str
