from __future__ import annotations

import uuid
from collections.abc import Set
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from impl.auth.principal import Principal
from impl.kit.errors import UnprocessableContent
from impl.kit.pagination import CursorCodec, KeysetPosition, Page, build_page, clamp_limit
from impl.kit.text import is_storable
from impl.models import Role, Team
from impl.settings import Settings
from impl.teams.errors import TeamNotFoundError, TeamRoleForbiddenError
from impl.teams.repository import TeamRepository

MAX_TEAM_NAME_LENGTH = 200

TEAM_EDITORS = frozenset({Role.OWNER, Role.ADMIN})
TEAM_OWNERS = frozenset({Role.OWNER})


@dataclass(frozen=True, slots=True)
class TeamView:
    """A team as one member sees it: the team's fields and the caller's role in it."""

    id: uuid.UUID
    name: str
    version: int
    created_at: datetime
    updated_at: datetime
    role: str

    @classmethod
    def of(cls, team: Team, role: str) -> TeamView:
        return cls(
            id=team.id,
            name=team.name,
            version=team.version,
            created_at=team.created_at,
            updated_at=team.updated_at,
            role=role,
        )


async def require_role(
    session: AsyncSession, principal: Principal, team_id: uuid.UUID, allowed: Set[str]
) -> str:
    """The caller's role in the team, if it is one of `allowed`.

    Non-members (and deleted teams) get `NotFound`, not `Forbidden`, so team ids cannot be
    probed for existence; members with another role get `Forbidden`.
    """
    return _authorise(await TeamRepository(session).get_role(team_id, principal.user_id), allowed)


def _authorise(role: str | None, allowed: Set[str] | None) -> str:
    if role is None:
        raise TeamNotFoundError
    if allowed is not None and role not in allowed:
        raise TeamRoleForbiddenError(role)
    return role


def _team_name(name: str) -> str:
    name = name.strip()
    if not is_storable(name):
        raise UnprocessableContent("name contains characters that cannot be stored")
    if not name or len(name) > MAX_TEAM_NAME_LENGTH:
        raise UnprocessableContent(f"name must be 1 to {MAX_TEAM_NAME_LENGTH} characters")
    return name


def _position(view: TeamView) -> KeysetPosition:
    return KeysetPosition(created_at=view.created_at, id=view.id)


class TeamService:
    def __init__(self, settings: Settings) -> None:
        self._cursors = CursorCodec(settings.cursor_secret.get_secret_value().encode())

    async def create_team(
        self, session: AsyncSession, principal: Principal, *, name: str
    ) -> TeamView:
        teams = TeamRepository(session)
        team = await teams.create(name=_team_name(name))
        await teams.add_member(team_id=team.id, user_id=principal.user_id, role=Role.OWNER)
        return TeamView.of(team, Role.OWNER.value)

    async def list_teams(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Page[TeamView]:
        limit = clamp_limit(limit)
        after = self._cursors.decode_position(cursor) if cursor else None
        rows = await TeamRepository(session).list_for_member(
            principal.user_id, limit=limit + 1, after=after
        )
        views = [TeamView.of(team, role) for team, role in rows]
        return build_page(views, limit=limit, codec=self._cursors, position=_position)

    async def get_team(
        self, session: AsyncSession, principal: Principal, *, team_id: uuid.UUID
    ) -> TeamView:
        team, role = await self._load(session, principal, team_id)
        return TeamView.of(team, role)

    async def update_team(
        self,
        session: AsyncSession,
        principal: Principal,
        *,
        team_id: uuid.UUID,
        name: str | None = None,
    ) -> TeamView:
        team, role = await self._load(session, principal, team_id, allowed=TEAM_EDITORS)
        if name is not None:
            await TeamRepository(session).update(team, name=_team_name(name))
        return TeamView.of(team, role)

    async def delete_team(
        self, session: AsyncSession, principal: Principal, *, team_id: uuid.UUID
    ) -> None:
        team, _ = await self._load(session, principal, team_id, allowed=TEAM_OWNERS)
        await TeamRepository(session).soft_delete(team)

    async def _load(
        self,
        session: AsyncSession,
        principal: Principal,
        team_id: uuid.UUID,
        *,
        allowed: Set[str] | None = None,
    ) -> tuple[Team, str]:
        found = await TeamRepository(session).get_for_member(team_id, principal.user_id)
        role = _authorise(found[1] if found else None, allowed)
        assert found is not None
        return found[0], role
