from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from impl.models import Team
from tests.factories import create_team


async def _reload(session: AsyncSession, team: Team) -> Team:
    session.expunge_all()
    return (await session.scalars(select(Team).where(Team.id == team.id))).one()


async def test_datetimes_come_back_aware_utc_with_microseconds(session: AsyncSession) -> None:
    paris = timezone(timedelta(hours=2))
    created = datetime(2025, 6, 1, 14, 30, 15, 123456, tzinfo=paris)
    team = await create_team(session, created_at=created)

    loaded = await _reload(session, team)

    assert loaded.created_at == created
    assert loaded.created_at.tzinfo == UTC
    assert loaded.created_at.hour == 12
    assert loaded.created_at.microsecond == 123456


async def test_naive_datetimes_are_refused(session: AsyncSession) -> None:
    with pytest.raises(StatementError, match="naive datetime"):
        await create_team(session, created_at=datetime(2025, 6, 1))


async def test_comparisons_bind_as_utc(session: AsyncSession) -> None:
    team = await create_team(session, created_at=datetime(2025, 6, 1, 12, tzinfo=UTC))
    one_hour_ahead = timezone(timedelta(hours=1))
    # 12:30+01:00 is 11:30 UTC, which is before the team was created.
    cutoff = datetime(2025, 6, 1, 12, 30, tzinfo=one_hour_ahead)
    found = await session.scalars(select(Team.id).where(Team.created_at > cutoff))
    assert list(found) == [team.id]
