from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, exists, select, true

from impl.auth.principal import Principal, TokenSubject
from impl.kit.db import Unit
from impl.kit.query import Query
from impl.models import Membership, SignIn, Team, User

_users, _members, _teams = User.__table__, Membership.__table__, Team.__table__
_sign_ins = SignIn.__table__

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
# The token's sign-in, unrevoked: a primary-key probe in the same round trip.
_SIGNED_IN = exists().where(
    _sign_ins.c.id == bindparam("sign_in_id", type_=_sign_ins.c.id.type),
    _sign_ins.c.user_id == _users.c.id,
    _sign_ins.c.revoked_at.is_(None),
)
_CALLER_SELECT = select(_users.c.email, _users.c.is_admin, _ROLE.label("role")).where(
    _users.c.id == bindparam("user_id", type_=_users.c.id.type),
    _users.c.is_active.is_(True),
    _SIGNED_IN,
)
_CALLER = Query(_CALLER_SELECT)
_CALLER_COLUMNS = 3


def caller_and(statement: Select[Any], *, postgresql: Select[Any] | None = None) -> Query:
    """The caller query and `statement` in one: one row per row of `statement` (one with
    NULLs if it finds none), the caller's columns first; no row if there is no caller.
    `statement`'s own ORDER BY does not carry through the join: rows come in no order.

    `statement`'s bind parameters are its own, but `user_id` is the caller's, `team_id`
    is the path's team and `sign_in_id` the token's sign-in, as in the caller query. A last
    column tells a row `statement` found from the NULLs of none. `postgresql` is a variant
    of `statement` for PostgreSQL (see `Query`).
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
        self, subject: TokenSubject, team_id: uuid.UUID | None
    ) -> tuple[Principal, str | None] | None:
        """The active account of `subject`, and its role in `team_id` (None: not a member,
        or the team is deleted); None if the account is missing or deactivated, or the
        token's sign-in is revoked (or gone). One query."""
        row = await _CALLER.one_or_none(self.unit, {**_binds(subject), "team_id": team_id})
        if row is None:
            return None
        return Principal(user_id=subject.user_id, email=row[0], is_admin=row[1]), row[2]

    async def load_with(
        self,
        query: Query,
        subject: TokenSubject,
        team_id: uuid.UUID | None,
        params: Mapping[str, Any],
    ) -> tuple[Principal, str | None, list[Sequence[Any]]] | None:
        """`load`, and the rows of the statement `query` was made of (`caller_and`) with
        `params`, in one round trip."""
        rows = await query.rows(self.unit, {**params, **_binds(subject), "team_id": team_id})
        if not rows:
            return None
        email, is_admin, role = rows[0][:_CALLER_COLUMNS]
        found = [row[_CALLER_COLUMNS:-1] for row in rows if row[-1] is not None]
        principal = Principal(user_id=subject.user_id, email=email, is_admin=is_admin)
        return principal, role, found


def _binds(subject: TokenSubject) -> dict[str, uuid.UUID]:
    return {"user_id": subject.user_id, "sign_in_id": subject.sign_in_id}
