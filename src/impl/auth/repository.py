from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select

from impl.auth.principal import Principal
from impl.kit.db import Unit
from impl.kit.query import Query
from impl.models import Membership, Team, User

_users, _members, _teams = User.__table__, Membership.__table__, Team.__table__

# Every request runs this: a Core statement (no ORM entities to load), compiled once.
_ROLE = (
    select(_members.c.role)
    .join(_teams, _teams.c.id == _members.c.team_id)
    .where(
        _members.c.user_id == _users.c.id,
        _members.c.team_id == bindparam("team_id", type_=_members.c.team_id.type),
        _teams.c.deleted_at.is_(None),
    )
    .correlate(_users)
    .scalar_subquery()
)
_CALLER = Query(
    select(_users.c.email, _users.c.is_admin, _ROLE).where(
        _users.c.id == bindparam("user_id", type_=_users.c.id.type),
        _users.c.is_active.is_(True),
    )
)


class CallerRepository:
    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def load(
        self, user_id: uuid.UUID, team_id: uuid.UUID | None
    ) -> tuple[Principal, str | None] | None:
        """The active account `user_id`, and its role in `team_id` (None: not a member, or
        the team is deleted); None if the account is missing or deactivated. One query."""
        row = await _CALLER.one_or_none(self.unit, {"user_id": user_id, "team_id": team_id})
        if row is None:
            return None
        return Principal(user_id=user_id, email=row[0], is_admin=row[1]), row[2]
