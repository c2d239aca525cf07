"""The jobs the service runs, by name, and their schedule. Add new jobs here."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.housekeeping.service import HousekeepingService
from impl.jobs.core import JobHandler, JsonObject
from impl.jobs.scheduler import Periodic
from impl.settings import Settings

logger = logging.getLogger("storefront.jobs")

HOUSEKEEPING = "housekeeping"


def job_handlers(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> dict[str, JobHandler]:
    housekeeping_service = HousekeepingService(settings)

    async def housekeeping(_payload: JsonObject) -> None:
        report = await housekeeping_service.run(sessionmaker)
        logger.info(
            "housekeeping: deleted %d idempotency key(s) older than %d h, %d expired "
            "refresh token(s) and %d expired sign-in(s)",
            report.idempotency_keys.rows,
            settings.idempotency_key_retention_hours,
            report.refresh_tokens.rows,
            report.sign_ins.rows,
        )

    return {HOUSEKEEPING: housekeeping}


def periodic_jobs(settings: Settings) -> list[Periodic]:
    if settings.housekeeping_interval_minutes == 0:
        return []
    return [Periodic(HOUSEKEEPING, settings.housekeeping_interval_minutes * 60)]
