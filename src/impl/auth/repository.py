from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, select, true

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
_CALLER_SELECT = select(_users.c.email, _users.c.is_admin, _ROLE.label("role")).where(
    _users.c.id == bindparam("user_id", type_=_users.c.id.type),
    _users.c.is_active.is_(True),
)
_CALLER = Query(_CALLER_SELECT)
_CALLER_COLUMNS = 3


def caller_and(statement: Select[Any], *, postgresql: Select[Any] | None = None) -> Query:
    """The caller query and `statement` in one: one row per row of `statement` (one with
    NULLs if it finds none), the caller's columns first; no row if there is no caller.
    `statement`'s own ORDER BY does not carry through the join: rows come in no order.

    `statement`'s bind parameters are its own, but `user_id` is the caller's and `team_id`
    is the path's team, as in the caller query. A last column tells a row `statement`
    found from the NULLs of none. `postgresql` is a variant of `statement` for PostgreSQL
    (see `Query`).
    """

    def joined(statement: Select[Any]) -> Select[Any]:
        caller = _CALLER_SELECT.subquery("caller")
        ahead = statement.add_columns(true().label("found")).subquery("ahead")
        return select(caller, ahead).select_from(caller.outerjoin(ahead, true()))

    return Query(joined(statement), postgresql=None if postgresql is None else joined(postgresql))


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

    async def load_with(
        self,
        query: Query,
        user_id: uuid.UUID,
        team_id: uuid.UUID | None,
        params: Mapping[str, Any],
    ) -> tuple[Principal, str | None, list[Sequence[Any]]] | None:
        """`load`, and the rows of the statement `query` was made of (`caller_and`) with
        `params`, in one round trip."""
        rows = await query.rows(self.unit, {**params, "user_id": user_id, "team_id": team_id})
        if not rows:
            return None
        email, is_admin, role = rows[0][:_CALLER_COLUMNS]
        found = [row[_CALLER_COLUMNS:-1] for row in rows if row[-1] is not None]
        return Principal(user_id=user_id, email=email, is_admin=is_admin), role, found
