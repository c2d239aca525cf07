from __future__ import annotations

import uuid

from sqlalchemy import Select, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from impl.kit.clock import utcnow
from impl.kit.pagination import KeysetPosition
from impl.models import Membership, Team
from impl.teams.errors import TeamModifiedError


def _for_member(user_id: uuid.UUID) -> Select[Team, str]:
    return (
        select(Team, Membership.role)
        .join(Membership, Membership.team_id == Team.id)
        .where(Membership.user_id == user_id, Team.deleted_at.is_(None))
    )


class TeamRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(self, *, name: str) -> Team:
        now = utcnow()
        team = Team(name=name, created_at=now, updated_at=now)
        self.session.add(team)
        await self.session.flush()
        return team

    async def add_member(self, *, team_id: uuid.UUID, user_id: uuid.UUID, role: str) -> Membership:
        membership = Membership(team_id=team_id, user_id=user_id, role=role)
        self.session.add(membership)
        await self.session.flush()
        return membership

    async def get_for_member(
        self, team_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[Team, str] | None:
        """The team and the member's role; None if it is deleted or they are not a member."""
        result = await self.session.execute(_for_member(user_id).where(Team.id == team_id))
        row = result.one_or_none()
        return None if row is None else (row[0], row[1])

    async def get_role(self, team_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
        return await self.session.scalar(
            select(Membership.role)
            .join(Team, Team.id == Membership.team_id)
            .where(
                Membership.team_id == team_id,
                Membership.user_id == user_id,
                Team.deleted_at.is_(None),
            )
        )

    async def list_for_member(
        self, user_id: uuid.UUID, *, limit: int, after: KeysetPosition | None = None
    ) -> list[tuple[Team, str]]:
        """Teams in `(created_at, id)` order, strictly after `after`, at most `limit`."""
        statement = _for_member(user_id).order_by(Team.created_at, Team.id).limit(limit)
        if after is not None:
            # A plain tuple on the right takes the column types, so binds go through UTCDateTime.
            statement = statement.where(
                tuple_(Team.created_at, Team.id) > (after.created_at, after.id)
            )
        result = await self.session.execute(statement)
        return [(team, role) for team, role in result]

    async def update(self, team: Team, *, name: str | None = None) -> Team:
        if name is not None:
            team.name = name
        await self._flush_versioned()
        return team

    async def soft_delete(self, team: Team) -> None:
        team.deleted_at = utcnow()
        await self._flush_versioned()

    async def _flush_versioned(self) -> None:
        # Team.version guards every UPDATE; the savepoint keeps the transaction usable.
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except StaleDataError as error:
            raise TeamModifiedError from error
