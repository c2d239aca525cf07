"""The queue the settings call for, with its handlers and scheduler, started and stopped as one.

| REDIS_URL | queue | app process (`just serve`) | `just worker` |
|---|---|---|---|
| unset | `InProcessQueue` | runs jobs and schedules them | the same, standalone |
| set | `RedisStreamQueue` | schedules (enqueues) only | runs jobs and schedules them |
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.jobs.core import JobHandlers, JobQueue, RetryPolicy
from impl.jobs.memory import InProcessQueue
from impl.jobs.scheduler import Periodic, Scheduler
from impl.jobs.streams import RedisStreamQueue
from impl.jobs.tasks import job_handlers, periodic_jobs
from impl.settings import Settings

logger = logging.getLogger("storefront.jobs")

TASK_PREFIX = "storefront-jobs"


class JobRuntime:
    def __init__(
        self,
        queue: JobQueue,
        handlers: JobHandlers,
        periodic: Sequence[Periodic],
        *,
        consume: bool,
    ) -> None:
        self.queue = queue
        self.handlers = handlers
        self.scheduler = Scheduler(queue, periodic)
        self.consume = consume
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._stop.clear()
        self._tasks = [
            asyncio.create_task(self.scheduler.run(self._stop), name=f"{TASK_PREFIX}-scheduler")
        ]
        if self.consume:
            self._tasks.append(
                asyncio.create_task(
                    self.queue.work(self.handlers, self._stop), name=f"{TASK_PREFIX}-worker"
                )
            )
        for task in self._tasks:
            task.add_done_callback(_log_crash)

    async def run_until(self, stop: asyncio.Event) -> bool:
        """Wait for `stop` (True) or for a task of the runtime to end on its own (False)."""
        stopped = asyncio.ensure_future(stop.wait())
        try:
            done, _ = await asyncio.wait(
                {stopped, *self._tasks}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stopped.cancel()
        return stopped in done

    async def stop(self, grace: float = 10.0) -> None:
        """Stop taking jobs, let the one in hand finish (up to `grace` seconds), close."""
        self._stop.set()
        if self._tasks:
            _done, late = await asyncio.wait(self._tasks, timeout=grace)
            for task in late:
                logger.warning("jobs: %s did not stop within %.0f s; cancelled", task, grace)
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.queue.close()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("jobs: %s crashed", task.get_name(), exc_info=error)


def build_runtime(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    role: Literal["app", "worker"],
) -> JobRuntime:
    policy = RetryPolicy(
        max_attempts=settings.job_max_attempts, base_delay=settings.job_retry_delay_seconds
    )
    queue: JobQueue
    if settings.redis_url:
        queue = RedisStreamQueue.from_url(
            settings.redis_url,
            prefix=settings.jobs_redis_prefix,
            policy=policy,
            claim_idle=settings.job_claim_idle_seconds,
        )
        consume = role == "worker"
    else:
        queue = InProcessQueue(policy)
        consume = True
    return JobRuntime(
        queue, job_handlers(settings, sessionmaker), periodic_jobs(settings), consume=consume
    )
