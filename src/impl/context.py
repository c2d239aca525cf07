"""Per-request context handed to every handler: one unit of work, the caller, the request id.

The context is also where the contract's access rules (`impl.auth.access`) are applied, once,
before any handler runs: the caller's account and, for team-scoped operations, their role in
the team are read in one query inside the request's own transaction. An operation may have a
`ReadAhead`: a read its handler needs, made in that same query (one round trip fewer), and
handed over only once the access rules have passed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from contextlib import (
    AbstractAsyncContextManager,
    AbstractContextManager,
    asynccontextmanager,
    nullcontext,
)
from dataclasses import dataclass
from typing import Any, NoReturn, cast

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.audit.recorder import Actor, reset_actor, set_actor
from impl.auth.access import AccessPolicy, Rule
from impl.auth.principal import Principal, TokenSubject
from impl.auth.repository import CallerQuery, CallerRepository, caller_query_and
from impl.auth.tokens import invalid_token
from impl.kit.db import Unit, Units, unavailable_as_503
from impl.kit.errors import Forbidden, Unauthorized
from impl.kit.pagination import CursorScope, cursors_of
from impl.observability.logs import bind_request
from impl.ratelimits import SCOPE_KEY as RATE_LIMIT_SCOPE_KEY
from impl.ratelimits import RateLimiter
from impl.teams.access import TeamAccess
from impl.teams.errors import TeamNotFoundError, TeamRoleForbiddenError
from specfirst import RequestInfo, request_id_var


@dataclass(frozen=True, slots=True)
class ReadAhead:
    """A read an operation's handler needs, made in the caller query's round trip.

    `statement`'s bind parameters are filled by `params` from the handler's validated
    arguments; `team_id` is the path's team. It runs before the access rules are applied:
    its rows reach the handler (`RequestContext.ahead`) only if they pass.
    """

    statement: Select[Any]
    params: Callable[[Mapping[str, Any]], Mapping[str, Any]]
    # A variant for PostgreSQL (an array parameter instead of an expanding IN; see `Query`).
    postgresql: Select[Any] | None = None


@dataclass(frozen=True, slots=True)
class RequestContext:
    db: Unit
    principal: Principal | None
    request_id: str
    team: TeamAccess | None = None
    # The rows of the operation's `ReadAhead`; None if it has none (or no caller).
    ahead: Sequence[Sequence[Any]] | None = None

    @property
    def session(self) -> AsyncSession:
        """The request's ORM session, on the unit's connection and transaction."""
        return self.db.session

    def caller(self) -> Principal:
        """The authenticated principal; operations with security always have one."""
        if self.principal is None:
            raise Unauthorized("Valid credentials are required.")
        return self.principal

    def team_access(self) -> TeamAccess:
        """The caller's checked access to the path's team; team-scoped operations have one."""
        if self.team is None:
            raise TypeError("not a team-scoped operation: declare x-team-roles in the spec")
        return self.team


class ContextFactory:
    """One transaction per request: committed when the handler returns, rolled back on error.

    GET operations only read (the contract says so: they are safe methods), so they get a
    read-only unit of work: no BEGIN/COMMIT round trips on PostgreSQL, and any attempt to
    write fails loudly instead of being committed.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        policy: AccessPolicy,
        read_ahead: Mapping[str, ReadAhead] | None = None,
        without_database: Collection[str] = (),
        limiter: RateLimiter | None = None,
    ) -> None:
        self._units = Units(sessionmaker)
        # Operations whose handlers touch no database (liveness, readiness, metrics): their
        # context holds no unit, so they answer while the database is down.
        self._without_database = frozenset(without_database)
        self._limiter = limiter
        self._policy = policy
        self._ahead: dict[
            str, tuple[CallerQuery, Callable[[Mapping[str, Any]], Mapping[str, Any]]]
        ] = {
            operation_id: (
                caller_query_and(ahead.statement, postgresql=ahead.postgresql),
                ahead.params,
            )
            for operation_id, ahead in (read_ahead or {}).items()
        }

    def __call__(
        self, info: RequestInfo[TokenSubject]
    ) -> AbstractAsyncContextManager[RequestContext]:
        return self._open(info)

    @asynccontextmanager
    async def _open(self, info: RequestInfo[TokenSubject]) -> AsyncIterator[RequestContext]:
        rule = self._policy.rule(info.operation.operation_id)
        request_id = request_id_var.get()
        # Whatever this request changes is audited as done by its caller, through its operation.
        actor = Actor(
            user_id=info.principal.user_id if info.principal else None,
            action=info.operation.operation_id,
            request_id=request_id,
        )
        token = set_actor(actor)
        try:
            if self._limiter is not None:
                await self._count(self._limiter, info)
            if info.operation.operation_id in self._without_database:
                yield RequestContext(_NO_UNIT, None, request_id)
                return
            with unavailable_as_503(), _list_cursors(info):
                async with self._units.open(read_only=info.operation.method == "GET") as unit:
                    principal, team, ahead = None, None, None
                    if info.principal is not None:
                        team_id = _team_id(info, rule)
                        bind_request(user_id=info.principal.user_id, team_id=team_id)
                        principal, role, ahead = await self._load_caller(
                            unit, info, info.principal, team_id
                        )
                        team = _authorise(rule, principal, team_id, role)
                    yield RequestContext(unit, principal, request_id, team, ahead)
        finally:
            reset_actor(token)

    @staticmethod
    async def _count(limiter: RateLimiter, info: RequestInfo[TokenSubject]) -> None:
        """Count the request against its operation's rate limits, before any database work;
        the counts travel on the request's scope to its response's header fields."""
        request = info.request
        team_id = request.path_params.get("team_id") if "{team_id}" in info.operation.path else None
        counted = await limiter.hit(
            info.operation.operation_id,
            ip=request.client.host if request.client else "unknown",
            principal=str(info.principal.user_id) if info.principal else None,
            team=str(team_id) if team_id is not None else None,
        )
        if counted:
            request.scope[RATE_LIMIT_SCOPE_KEY] = counted

    async def _load_caller(
        self,
        unit: Unit,
        info: RequestInfo[TokenSubject],
        subject: TokenSubject,
        team_id: uuid.UUID | None,
    ) -> tuple[Principal, str | None, list[Sequence[Any]] | None]:
        callers = CallerRepository(unit)
        read_ahead = self._ahead.get(info.operation.operation_id)
        found: tuple[Principal, str | None, list[Sequence[Any]] | None] | None
        if read_ahead is None:
            caller = await callers.load(subject, team_id)
            found = None if caller is None else (*caller, None)
        else:
            query, params = read_ahead
            found = await callers.load_with(
                query.of(subject), subject, team_id, params(info.arguments)
            )
        if found is None:
            # Deactivated (or deleted) accounts, and signed-out sign-ins, stop at once,
            # whatever their tokens say.
            raise invalid_token(
                "The user no longer exists or is deactivated, or this sign-in was revoked"
            )
        return found


class _NoUnit:
    """The unit of an operation declared to need none: any use of it is a bug."""

    def __getattr__(self, name: str) -> NoReturn:
        raise TypeError(f"this operation was declared without a database (Unit.{name})")


_NO_UNIT = cast(Unit, _NoUnit())


def _list_cursors(info: RequestInfo[TokenSubject]) -> AbstractContextManager[None]:
    """A list's cursors are bound to it: its operation, caller, path and filters."""
    if "cursor" not in info.arguments:
        return nullcontext()
    caller = info.principal.user_id if info.principal else None
    return cursors_of(CursorScope(info.operation.operation_id, caller, info.arguments))


def _team_id(info: RequestInfo[TokenSubject], rule: Rule | None) -> uuid.UUID | None:
    if rule is None or rule.team_roles is None:
        return None
    # The generated route has already validated the path parameter as a UUID.
    return uuid.UUID(str(info.request.path_params["team_id"]))


def _authorise(
    rule: Rule | None, principal: Principal, team_id: uuid.UUID | None, role: str | None
) -> TeamAccess | None:
    if rule is None:
        return None
    if rule.platform_admin and not principal.is_admin:
        raise Forbidden("Only platform admins may do this")
    if rule.team_roles is None or team_id is None:
        return None
    if role is None:
        raise TeamNotFoundError
    if role not in rule.team_roles:
        raise TeamRoleForbiddenError(role)
    return TeamAccess(team_id=team_id, user_id=principal.user_id, role=role)
