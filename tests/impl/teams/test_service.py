from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from impl.kit.errors import BadRequest, Conflict, NotFound, UnprocessableContent
from impl.models import Role, Team, User
from impl.settings import Settings
from impl.teams.service import TeamService, TeamView
from tests.factories import access_for, add_member, create_team, create_user, principal_for


@pytest.fixture
def service(settings: Settings) -> TeamService:
    return TeamService(settings)


@pytest.fixture
async def user(session: AsyncSession) -> User:
    return await create_user(session)


class TestCreateTeam:
    async def test_creator_is_owner(
        self, session: AsyncSession, service: TeamService, user: User
    ) -> None:
        view = await service.create_team(session, principal_for(user), name="  Acme  ")
        assert view.name == "Acme"
        assert view.role == "owner"
        assert view.version == 1
        team = await session.get(Team, view.id)
        assert team is not None
        assert await service.get_team(session, access_for(user, team)) == view

    @pytest.mark.parametrize("name", ["", "   ", "x" * 201, "a\x00b", "\udfff"])
    async def test_invalid_name(
        self, session: AsyncSession, service: TeamService, user: User, name: str
    ) -> None:
        with pytest.raises(UnprocessableContent):
            await service.create_team(session, principal_for(user), name=name)


class TestListTeams:
    async def test_only_my_teams(
        self, session: AsyncSession, service: TeamService, user: User
    ) -> None:
        mine = await create_team(session, owner=user)
        shared = await create_team(session, owner=await create_user(session))
        await add_member(session, team=shared, user=user, role=Role.VIEWER)
        await create_team(session, owner=await create_user(session))
        deleted = await create_team(session, owner=user)
        deleted.deleted_at = datetime.now(UTC)
        await session.flush()

        page = await service.list_teams(session, principal_for(user), limit=10, cursor=None)

        assert [(view.id, view.role) for view in page.items] == [
            (mine.id, "owner"),
            (shared.id, "viewer"),
        ]
        assert page.next_cursor is None

    async def test_pages(self, session: AsyncSession, service: TeamService, user: User) -> None:
        same_time = datetime(2025, 1, 1, tzinfo=UTC)
        teams = [await create_team(session, owner=user, created_at=same_time) for _ in range(4)]
        teams += [await create_team(session, owner=user) for _ in range(3)]
        expected = sorted((team.created_at, team.id) for team in teams)

        seen: list[TeamView] = []
        cursor = None
        for _ in range(10):
            page = await service.list_teams(session, principal_for(user), limit=3, cursor=cursor)
            seen += page.items
            cursor = page.next_cursor
            if cursor is None:
                break

        assert [(view.created_at, view.id) for view in seen] == expected

    async def test_bad_cursor(
        self, session: AsyncSession, service: TeamService, user: User
    ) -> None:
        with pytest.raises(BadRequest, match="Invalid cursor"):
            await service.list_teams(session, principal_for(user), limit=10, cursor="bogus")


class TestGetTeam:
    async def test_role_comes_from_access(
        self, session: AsyncSession, service: TeamService, user: User
    ) -> None:
        team = await create_team(session, owner=await create_user(session))
        view = await service.get_team(session, access_for(user, team, Role.VIEWER))
        assert (view.id, view.role) == (team.id, "viewer")

    async def test_deleted_since_checked(
        self, session: AsyncSession, service: TeamService, user: User
    ) -> None:
        team = await create_team(session, owner=user)
        team.deleted_at = datetime.now(UTC)
        await session.flush()
        with pytest.raises(NotFound):
            await service.get_team(session, access_for(user, team))


class TestUpdateTeam:
    async def test_rename(self, session: AsyncSession, service: TeamService, user: User) -> None:
        team = await create_team(session)
        await add_member(session, team=team, user=user, role=Role.ADMIN)
        before = team.updated_at

        view = await service.update_team(
            session, access_for(user, team, Role.ADMIN), name="Renamed"
        )

        assert view.name == "Renamed"
        assert view.version == 2
        assert view.updated_at > before

    async def test_no_change_keeps_version(
        self, session: AsyncSession, service: TeamService, user: User
    ) -> None:
        team = await create_team(session, owner=user)
        view = await service.update_team(session, access_for(user, team), name=None)
        assert view.version == 1

    async def test_concurrent_writer_loses(
        self, session: AsyncSession, service: TeamService, user: User
    ) -> None:
        team = await create_team(session, owner=user)
        # Another transaction committed version 2 after this one loaded version 1.
        await session.execute(
            update(Team)
            .where(Team.id == team.id)
            .values(version=2)
            .execution_options(synchronize_session=False)
        )
        with pytest.raises(Conflict):
            await service.update_team(session, access_for(user, team), name="x")


class TestDeleteTeam:
    async def test_owner(self, session: AsyncSession, service: TeamService, user: User) -> None:
        team = await create_team(session, owner=user)
        await service.delete_team(session, access_for(user, team))
        assert team.deleted_at is not None
        with pytest.raises(NotFound):
            await service.get_team(session, access_for(user, team))
