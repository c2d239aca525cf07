from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from impl.kit.clock import utcnow
from impl.kit.ids import new_id
from impl.models.base import Base


class DeadLetter(Base):
    """A background job that failed on every attempt it was allowed (`impl.jobs`).

    Written by the worker that ran its last attempt; platform admins list them and retry
    one (a new job with the same task and arguments), which records the new job's id here.
    """

    __tablename__ = "job_dead_letters"
    # The admin list: newest first, optionally only those not retried yet.
    __table_args__ = (
        Index("ix_job_dead_letters_failed_at_id", "failed_at", "id"),
        Index("ix_job_dead_letters_retried_at", "retried_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # The job's id on the queue (taskiq's task id), the same on each of its attempts.
    job_id: Mapped[str] = mapped_column(String(64))
    task: Mapped[str] = mapped_column(String(128))
    args: Mapped[list[Any]] = mapped_column(JSON)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int]
    # The last attempt's exception, one line ("RuntimeError: ..."); its traceback is logged.
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    retried_at: Mapped[datetime | None]
    retry_job_id: Mapped[str | None] = mapped_column(String(64))
