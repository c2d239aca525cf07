"""Housekeeping: delete what the service no longer needs, in bounded batches.

Each batch is its own short transaction, so a large backlog never holds a long lock (on
SQLite the write lock of the whole database) and other writers go on between batches.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.accounts.repository import RefreshTokenRepository, SignInRepository
from impl.kit.clock import utcnow
from impl.kit.db import Unit, unit_of_work
from impl.orders.repository import IdempotencyRepository
from impl.settings import Settings


@dataclass(frozen=True, slots=True)
class Purged:
    rows: int
    batches: int


@dataclass(frozen=True, slots=True)
class HousekeepingReport:
    idempotency_keys: Purged
    refresh_tokens: Purged
    sign_ins: Purged


class HousekeepingService:
    def __init__(self, settings: Settings) -> None:
        self.idempotency_retention = timedelta(hours=settings.idempotency_key_retention_hours)
        self.batch_size = settings.housekeeping_batch_size

    async def run(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime | None = None
    ) -> HousekeepingReport:
        now = now or utcnow()
        return HousekeepingReport(
            idempotency_keys=await self.purge_idempotency_keys(sessionmaker, now=now),
            refresh_tokens=await self.purge_refresh_tokens(sessionmaker, now=now),
            sign_ins=await self.purge_sign_ins(sessionmaker, now=now),
        )

    async def purge_idempotency_keys(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime
    ) -> Purged:
        """Forget keys first used more than the retention period ago (then a retry is new)."""
        cutoff = now - self.idempotency_retention

        async def delete_batch(session: AsyncSession) -> int:
            keys = IdempotencyRepository(await Unit.of_session(session))
            return await keys.delete_created_before(cutoff, limit=self.batch_size)

        return await self._in_batches(sessionmaker, delete_batch)

    async def purge_refresh_tokens(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime
    ) -> Purged:
        """Delete refresh tokens past their expiry, used and revoked ones included."""
        return await self._in_batches(
            sessionmaker,
            lambda session: RefreshTokenRepository(session).delete_expired(
                now=now, limit=self.batch_size
            ),
        )

    async def purge_sign_ins(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, now: datetime
    ) -> Purged:
        """Delete sign-ins whose newest refresh token expired (their access tokens did long
        before: an access token lives minutes, a refresh token weeks)."""
        return await self._in_batches(
            sessionmaker,
            lambda session: SignInRepository(session).delete_expired(
                now=now, limit=self.batch_size
            ),
        )

    async def _in_batches(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        delete_batch: Callable[[AsyncSession], Awaitable[int]],
    ) -> Purged:
        rows = batches = 0
        while True:
            async with unit_of_work(sessionmaker) as session:
                deleted = await delete_batch(session)
            batches += 1
            rows += deleted
            # A short batch means nothing was left (or a concurrent purge has the rest).
            if deleted < self.batch_size:
                return Purged(rows=rows, batches=batches)
