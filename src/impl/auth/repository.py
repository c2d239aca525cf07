from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Exists, Select, bindparam, exists, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from impl.auth.principal import Principal, TokenSubject
from impl.kit.db import Unit, is_unique_violation
from impl.kit.ids import new_id
from impl.kit.query import Query
from impl.models import ExternalIdentity, Membership, SignIn, Team, User

_users, _members, _teams = User.__table__, Membership.__table__, Team.__table__
_sign_ins, _identities = SignIn.__table__, ExternalIdentity.__table__

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
# An external provider's token: its identity link instead (see `TokenSubject`).
_LINKED = exists().where(
    _identities.c.id == bindparam("identity_id", type_=_identities.c.id.type),
    _identities.c.user_id == _users.c.id,
)


def _caller_select(proof: Exists) -> Select[Any]:
    return select(_users.c.email, _users.c.is_admin, _ROLE.label("role")).where(
        _users.c.id == bindparam("user_id", type_=_users.c.id.type),
        _users.c.is_active.is_(True),
        proof,
    )


_CALLER_SELECT = _caller_select(_SIGNED_IN)
_EXTERNAL_CALLER_SELECT = _caller_select(_LINKED)
_CALLER = Query(_CALLER_SELECT)
_EXTERNAL_CALLER = Query(_EXTERNAL_CALLER_SELECT)
_CALLER_COLUMNS = 3


@dataclass(frozen=True, slots=True)
class CallerQuery:
    """A `caller_and` query in its two variants: for our tokens and for external ones."""

    own: Query
    external: Query

    def of(self, subject: TokenSubject) -> Query:
        return self.external if subject.identity_id is not None else self.own


def caller_query_and(
    statement: Select[Any], *, postgresql: Select[Any] | None = None
) -> CallerQuery:
    """`caller_and` for both kinds of token."""
    return CallerQuery(
        own=caller_and(statement, postgresql=postgresql),
        external=caller_and(statement, postgresql=postgresql, external=True),
    )


def caller_and(
    statement: Select[Any], *, postgresql: Select[Any] | None = None, external: bool = False
) -> Query:
    """The caller query and `statement` in one: one row per row of `statement` (one with
    NULLs if it finds none), the caller's columns first; no row if there is no caller.
    `statement`'s own ORDER BY does not carry through the join: rows come in no order.

    `statement`'s bind parameters are its own, but `user_id` is the caller's, `team_id`
    is the path's team and `sign_in_id` the token's sign-in, as in the caller query (with
    `external`: `identity_id`, the external token's link). A last column tells a row
    `statement` found from the NULLs of none. `postgresql` is a variant of `statement` for
    PostgreSQL (see `Query`).
    """
    caller_select = _EXTERNAL_CALLER_SELECT if external else _CALLER_SELECT

    def joined(statement: Select[Any]) -> Select[Any]:
        caller = caller_select.subquery("caller")
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
        query = _EXTERNAL_CALLER if subject.identity_id is not None else _CALLER
        row = await query.one_or_none(self.unit, {**_binds(subject), "team_id": team_id})
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


def _binds(subject: TokenSubject) -> dict[str, uuid.UUID | None]:
    if subject.identity_id is not None:
        return {"user_id": subject.user_id, "identity_id": subject.identity_id}
    return {"user_id": subject.user_id, "sign_in_id": subject.sign_in_id}


class ExternalIdentityRepository:
    """Accounts linked to subjects of an external provider (`impl.auth.external`)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def find(self, issuer: str, subject: str) -> tuple[uuid.UUID, uuid.UUID] | None:
        """The (identity id, user id) linked to `subject` of `issuer`, if any."""
        row = (
            await self.session.execute(
                select(_identities.c.id, _identities.c.user_id).where(
                    _identities.c.issuer == issuer, _identities.c.subject == subject
                )
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    async def email_taken(self, email: str) -> bool:
        found = await self.session.execute(select(exists().where(_users.c.email == email)))
        return bool(found.scalar())

    async def create(
        self, *, issuer: str, subject: str, email: str, username: str, password_hash: str
    ) -> tuple[uuid.UUID, uuid.UUID] | None:
        """A new account linked to `subject` of `issuer`: its (identity id, user id); None if
        the subject is linked already (a concurrent first token won). `IntegrityError` if
        `email` or `username` is taken."""
        user = User(id=new_id(), email=email, username=username, password_hash=password_hash)
        identity = ExternalIdentity(id=new_id(), issuer=issuer, subject=subject, user_id=user.id)
        try:
            async with self.session.begin_nested():
                # Two flushes: without a relationship the ORM does not order the inserts.
                self.session.add(user)
                await self.session.flush()
                self.session.add(identity)
                await self.session.flush()
        except IntegrityError as error:
            if is_unique_violation(
                error,
                constraint="uq_external_identities_issuer_subject",
                table="external_identities",
                columns=["issuer", "subject"],
            ):
                return None
            raise
        return identity.id, user.id
