from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from impl.auth.principal import Principal
from impl.auth.repository import CallerRepository
from impl.kit.db import Unit
from impl.models import Role
from tests.factories import add_member, create_team, create_user


class TestLoad:
    async def test_active_user_without_team(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session, is_admin=True)
        found = await CallerRepository(unit).load(user.id, None)
        assert found == (Principal(user_id=user.id, email=user.email, is_admin=True), None)

    async def test_deactivated_or_unknown_user(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session, is_active=False)
        assert await CallerRepository(unit).load(user.id, None) is None
        assert await CallerRepository(unit).load(uuid.uuid4(), None) is None

    async def test_role_in_team(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session)
        team = await create_team(session, owner=await create_user(session))
        await add_member(session, team=team, user=user, role=Role.VIEWER)
        found = await CallerRepository(unit).load(user.id, team.id)
        assert found is not None
        assert found[1] == "viewer"

    async def test_not_a_member_or_deleted_team(self, session: AsyncSession, unit: Unit) -> None:
        user = await create_user(session)
        other = await create_team(session, owner=await create_user(session))
        deleted = await create_team(session, owner=user)
        deleted.deleted_at = datetime.now(UTC)
        await session.flush()
        for team_id in (other.id, deleted.id, uuid.uuid4()):
            found = await CallerRepository(unit).load(user.id, team_id)
            assert found is not None
            assert found[1] is None
