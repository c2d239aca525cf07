"""The dead letters: jobs that failed on every attempt, kept in the database for admins."""

from __future__ import annotations

import traceback
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.kit.db import unit_of_work
from impl.models import DeadLetter

# The one-line error kept on the row (the traceback is in the worker's log).
ERROR_CHARS = 2000


def describe(error: BaseException) -> str:
    """`RuntimeError: boom`: the exception's last line, bounded."""
    return "".join(traceback.format_exception_only(error)).strip()[:ERROR_CHARS]


class DeadLetterSink:
    """Where the retry middleware files a job whose last attempt failed."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def record(
        self,
        *,
        job_id: str,
        task: str,
        args: list[Any],
        kwargs: dict[str, Any],
        attempts: int,
        error: BaseException,
    ) -> uuid.UUID:
        async with unit_of_work(self.sessionmaker) as session:
            row = DeadLetter(
                job_id=job_id,
                task=task,
                args=args,
                kwargs=kwargs,
                attempts=attempts,
                error=describe(error),
            )
            session.add(row)
        return row.id
