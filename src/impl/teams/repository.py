from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from impl.kit.clock import utcnow
from impl.kit.pagination import KeysetPosition, past
from impl.models import Membership, Role, Team, User
from impl.teams.errors import AlreadyMemberError, TeamModifiedError


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

    async def get(self, team_id: uuid.UUID) -> Team | None:
        """The team, unless it is deleted."""
        return await self.session.scalar(
            select(Team).where(Team.id == team_id, Team.deleted_at.is_(None))
        )

    async def list_for_member(
        self, user_id: uuid.UUID, *, limit: int, after: KeysetPosition | None = None
    ) -> list[tuple[Team, str]]:
        """Teams in `(created_at, id)` order, strictly after `after`, at most `limit`."""
        statement = _for_member(user_id).order_by(Team.created_at, Team.id).limit(limit)
        if after is not None:
            statement = statement.where(past(after, Team.created_at, Team.id))
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


class MembershipRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_page(
        self, team_id: uuid.UUID, *, limit: int, after: KeysetPosition | None
    ) -> list[tuple[Membership, User]]:
        """Members in `(joined, user id)` order, strictly after `after`, at most `limit`."""
        statement = (
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.team_id == team_id)
            .order_by(Membership.created_at, Membership.user_id)
            .limit(limit)
        )
        if after is not None:
            statement = statement.where(past(after, Membership.created_at, Membership.user_id))
        return [(membership, user) for membership, user in await self.session.execute(statement)]

    async def get(self, team_id: uuid.UUID, user_id: uuid.UUID) -> tuple[Membership, User] | None:
        row = (
            await self.session.execute(
                select(Membership, User)
                .join(User, User.id == Membership.user_id)
                .where(Membership.team_id == team_id, Membership.user_id == user_id)
            )
        ).one_or_none()
        return None if row is None else (row[0], row[1])

    async def add(self, *, team_id: uuid.UUID, user_id: uuid.UUID, role: str) -> Membership:
        membership = Membership(team_id=team_id, user_id=user_id, role=role, created_at=utcnow())
        try:
            async with self.session.begin_nested():
                self.session.add(membership)
                await self.session.flush()
        except IntegrityError as error:
            # The primary key (team, user) decides, so a concurrent double add is one 409.
            raise AlreadyMemberError from error
        return membership

    async def lock_team(self, team_id: uuid.UUID) -> None:
        """Serialise membership changes of one team (a no-op on SQLite, whose writers are
        serialised by BEGIN IMMEDIATE anyway)."""
        await self.session.execute(select(Team.id).where(Team.id == team_id).with_for_update())

    async def count_owners(self, team_id: uuid.UUID) -> int:
        count = await self.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.team_id == team_id, Membership.role == Role.OWNER)
        )
        return int(count or 0)

    async def set_role(self, membership: Membership, role: str) -> None:
        membership.role = role
        await self.session.flush()

    async def delete(self, membership: Membership) -> None:
        await self.session.delete(membership)
        await self.session.flush()
