"""The jobs the service runs, registered on a broker with their schedules. Add new jobs here.

A job is a taskiq task: an async function taking JSON-serialisable keyword arguments,
registered under a stable name (the name travels in the queue, so renaming one strands the
jobs already enqueued under the old name). Periodic ones carry a `schedule` label with a
fixed `schedule_id`: the key every scheduler claims each tick under (`impl.jobs.schedule`).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import AsyncBroker

from impl.housekeeping.service import HousekeepingService
from impl.settings import Settings

logger = logging.getLogger("storefront.jobs")

HOUSEKEEPING = "housekeeping"


def register_tasks(
    broker: AsyncBroker, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    housekeeping_service = HousekeepingService(settings)

    async def housekeeping() -> None:
        report = await housekeeping_service.run(sessionmaker)
        logger.info(
            "housekeeping: deleted %d idempotency key(s) older than %d h, %d expired "
            "refresh token(s) and %d expired sign-in(s)",
            report.idempotency_keys.rows,
            settings.idempotency_key_retention_hours,
            report.refresh_tokens.rows,
            report.sign_ins.rows,
        )

    minutes = settings.housekeeping_interval_minutes
    schedule = [{"interval": minutes * 60, "schedule_id": HOUSEKEEPING}] if minutes else []
    broker.register_task(housekeeping, task_name=HOUSEKEEPING, schedule=schedule)
