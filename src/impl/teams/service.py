from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from impl.auth.principal import Principal
from impl.kit.errors import UnprocessableContent
from impl.kit.pagination import CursorCodec, KeysetPosition, Page, build_page, clamp_limit
from impl.kit.text import is_storable
from impl.models import Role, Team
from impl.settings import Settings
from impl.teams.access import TeamAccess
from impl.teams.errors import TeamNotFoundError
from impl.teams.repository import TeamRepository

MAX_TEAM_NAME_LENGTH = 200


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

    async def get_team(self, session: AsyncSession, access: TeamAccess) -> TeamView:
        return TeamView.of(await self._load(session, access), access.role)

    async def update_team(
        self, session: AsyncSession, access: TeamAccess, *, name: str | None = None
    ) -> TeamView:
        team = await self._load(session, access)
        if name is not None:
            await TeamRepository(session).update(team, name=_team_name(name))
        return TeamView.of(team, access.role)

    async def delete_team(self, session: AsyncSession, access: TeamAccess) -> None:
        await TeamRepository(session).soft_delete(await self._load(session, access))

    async def _load(self, session: AsyncSession, access: TeamAccess) -> Team:
        team = await TeamRepository(session).get(access.team_id)
        if team is None:  # deleted since the context checked the membership
            raise TeamNotFoundError
        return team
