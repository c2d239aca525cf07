from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.accounts.errors import RefreshTokenReusedError
from impl.accounts.service import AccountService
from impl.housekeeping.service import HousekeepingService, Purged
from impl.kit.clock import utcnow
from impl.kit.db import unit_of_work
from impl.models import IdempotencyKey, RefreshToken
from impl.settings import Settings
from tests.conftest import Database
from tests.factories import (
    DEFAULT_PASSWORD,
    create_idempotency_key,
    create_refresh_token,
    create_team,
    create_user,
)


@pytest.fixture
def deletes(database: Database) -> Iterator[dict[str, list[int]]]:
    """Rows deleted by each DELETE statement, by table, as the database reported them."""
    seen: dict[str, list[int]] = {}

    def record(_conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("DELETE FROM"):
            table = statement.split()[2]
            seen.setdefault(table, []).append(cursor.rowcount)

    event.listen(database.engine.sync_engine, "after_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(database.engine.sync_engine, "after_cursor_execute", record)


def _service(settings: Settings, *, batch_size: int) -> HousekeepingService:
    return HousekeepingService(settings.model_copy(update={"housekeeping_batch_size": batch_size}))


class TestPurgeIdempotencyKeys:
    async def test_deletes_exactly_the_expired_in_batches(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        deletes: dict[str, list[int]],
    ) -> None:
        now = utcnow()
        async with unit_of_work(sessionmaker) as session:
            team = await create_team(session)
            for _ in range(7):
                await create_idempotency_key(
                    session, team=team, created_at=now - timedelta(hours=25)
                )
            kept = [
                await create_idempotency_key(session, team=team, created_at=now - age)
                for age in (timedelta(hours=23, minutes=59), timedelta(0))
            ]

        purged = await _service(settings, batch_size=3).purge_idempotency_keys(
            sessionmaker, now=now
        )

        assert purged == Purged(rows=7, batches=3)
        assert deletes["idempotency_keys"] == [3, 3, 1]
        async with sessionmaker() as session:
            left = set((await session.scalars(select(IdempotencyKey.key))).all())
        assert left == {row.key for row in kept}

    async def test_retention_is_a_setting(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        now = utcnow()
        async with unit_of_work(sessionmaker) as session:
            team = await create_team(session)
            await create_idempotency_key(session, team=team, created_at=now - timedelta(hours=3))
        two_hours = settings.model_copy(update={"idempotency_key_retention_hours": 2})
        assert (
            await HousekeepingService(two_hours).run(sessionmaker, now=now)
        ).idempotency_keys == (Purged(rows=1, batches=1))

    async def test_nothing_to_do(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        report = await HousekeepingService(settings).run(sessionmaker)
        assert report.idempotency_keys == Purged(rows=0, batches=1)
        assert report.refresh_tokens == Purged(rows=0, batches=1)
        assert report.sign_ins == Purged(rows=0, batches=1)


class TestPurgeRefreshTokens:
    async def test_deletes_exactly_the_expired_in_batches(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        deletes: dict[str, list[int]],
    ) -> None:
        now = utcnow()
        hour = timedelta(hours=1)
        async with unit_of_work(sessionmaker) as session:
            user = await create_user(session)
            expired = [
                await create_refresh_token(session, user=user, expires_at=now - hour),
                await create_refresh_token(session, user=user, expires_at=now - 30 * 24 * hour),
                await create_refresh_token(
                    session, user=user, expires_at=now - hour, revoked_at=now - 2 * hour
                ),
            ]
            live = [
                await create_refresh_token(session, user=user, expires_at=now + hour),
                # Used (revoked) but unexpired: reuse detection still needs it.
                await create_refresh_token(
                    session, user=user, expires_at=now + hour, revoked_at=now - hour
                ),
            ]

        purged = await _service(settings, batch_size=2).purge_refresh_tokens(sessionmaker, now=now)

        assert purged == Purged(rows=len(expired), batches=2)
        assert deletes["refresh_tokens"] == [2, 1]
        async with sessionmaker() as session:
            left = set((await session.scalars(select(RefreshToken.id))).all())
        assert left == {token.id for token in live}

    async def test_a_replayed_used_token_still_revokes_its_family(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        accounts = AccountService(settings)
        async with unit_of_work(sessionmaker) as session:
            user = await create_user(session)
            first = await accounts.issue_tokens(
                session, email=user.email, password=DEFAULT_PASSWORD
            )
        async with unit_of_work(sessionmaker) as session:
            second = await accounts.refresh_tokens(session, refresh_token=first.refresh_token)

        await HousekeepingService(settings).run(sessionmaker)

        with pytest.raises(RefreshTokenReusedError):
            async with unit_of_work(sessionmaker) as session:
                await accounts.refresh_tokens(session, refresh_token=first.refresh_token)
        async with sessionmaker() as session:
            live = await session.scalar(
                select(func.count())
                .select_from(RefreshToken)
                .where(RefreshToken.revoked_at.is_(None))
            )
        assert live == 0
        assert second.refresh_token != first.refresh_token
