"""The jobs of one process: its broker, middlewares, tasks and scheduler, started as one.

| REDIS_URL | broker | app process (`just serve`) | `just worker` process |
|---|---|---|---|
| unset | `InMemoryBroker` | runs jobs and schedules them | the same, standalone |
| set | `RedisStreamBroker` | schedules (enqueues) only | runs jobs and schedules them |
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Coroutine, Mapping, Sequence
from contextvars import Context
from datetime import timedelta
from typing import Any, Literal

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq import AsyncBroker, InMemoryBroker, ScheduledTask, ScheduleSource
from taskiq.acks import AcknowledgeType
from taskiq.api import run_scheduler_task
from taskiq.kicker import AsyncKicker
from taskiq.receiver import Receiver
from taskiq.schedule_sources import LabelScheduleSource
from taskiq.serializers import JSONSerializer
from taskiq_redis import ListRedisScheduleSource

from impl.jobs.broker import StreamReaper, build_broker
from impl.jobs.dead_letters import DeadLetterSink
from impl.jobs.middleware import BackoffRetry, JobTelemetry
from impl.jobs.schedule import (
    LocalScheduleLock,
    MemoryScheduleSource,
    RedisScheduleLock,
    ScheduleLock,
    SingleScheduler,
)
from impl.jobs.tasks import register_tasks
from impl.kit.db import Unit
from impl.settings import Settings

logger = logging.getLogger("storefront.jobs")

TASK_PREFIX = "storefront-jobs"
# The schedulers of one process share their claims (apps built side by side, as in tests).
_LOCAL_LOCK = LocalScheduleLock()


class UnknownJobError(LookupError):
    """No task of that name is registered."""


class RetrySchedules(ListRedisScheduleSource):
    """taskiq-redis's schedule store on Redis, here for the retries waiting their backoff."""

    async def get_schedules(self) -> list[ScheduledTask]:
        try:
            return await super().get_schedules()
        except RedisError as error:
            # taskiq would log this with a traceback on every refresh while Redis is down.
            logger.warning("jobs: reading the retries failed (%r); trying again shortly", error)
            return []

    async def shutdown(self) -> None:
        # ListRedisScheduleSource (1.2.4) has no shutdown of its own: its pool would leak.
        await self._connection_pool.disconnect()


class JobRuntime:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        role: Literal["app", "worker"],
    ) -> None:
        self.settings = settings
        self.broker: AsyncBroker = build_broker(settings)
        self.retries: ScheduleSource
        self.lock: ScheduleLock
        if settings.redis_url:
            prefix = settings.jobs_redis_prefix
            self.retries = RetrySchedules(
                settings.redis_url,
                prefix=f"{prefix}:retries",
                serializer=JSONSerializer(),
                socket_connect_timeout=5,
            )
            self.lock = RedisScheduleLock(settings.redis_url, prefix=f"{prefix}:tick")
        else:
            self.retries = MemoryScheduleSource()
            self.lock = _LOCAL_LOCK
        self.broker.add_middlewares(
            JobTelemetry(),
            BackoffRetry(
                max_attempts=settings.job_max_attempts,
                base_delay=settings.job_retry_delay_seconds,
                max_delay=settings.job_retry_max_delay_seconds,
                schedule_source=self.retries,
                dead_letters=DeadLetterSink(sessionmaker),
            ),
        )
        register_tasks(self.broker, settings, sessionmaker)
        self.scheduler = SingleScheduler(
            self.broker, [LabelScheduleSource(self.broker), self.retries], self.lock
        )
        # In process, a job runs where it is enqueued; with Redis, in the worker processes.
        self.consume = role == "worker" and bool(settings.redis_url)
        self.broker.is_worker_process = self.consume
        self.reaper = StreamReaper(settings) if self.consume else None
        self._finish = asyncio.Event()
        self._ready = False  # the broker has started
        self._tasks: list[asyncio.Task[None]] = []

    # Producing.

    async def kick(self, task: str, /, *args: Any, **kwargs: Any) -> str:
        """Enqueue the job `task(*args, **kwargs)` now; return its id."""
        return await self.send(task, args, kwargs)

    async def send(
        self,
        task: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
    ) -> str:
        """`kick` with the arguments as values, and the job's id chosen beforehand if given."""
        kwargs = dict(kwargs or {})
        self._check(task, args, kwargs)
        kicker: AsyncKicker[Any, Any] = AsyncKicker(task, self.broker, {})
        if job_id is not None:
            kicker = kicker.with_task_id(job_id)
        # In a context of its own: an in-process job runs in a task that would copy the
        # caller's (a request's id, audit actor and log fields), which a worker never sees.
        sent = await asyncio.create_task(kicker.kiq(*args, **kwargs), context=Context())
        return sent.task_id

    def enqueue(
        self,
        unit: Unit,
        task: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
    ) -> str:
        """Enqueue the job `task(*args, **kwargs)` after `unit` commits; return its id now.

        This is the seam for jobs a request (or another unit of work) starts. For now the job
        is sent *after commit*: a rolled-back unit enqueues nothing, but a process that dies
        between its commit and the enqueue loses the job (the failure is logged). Enqueueing
        in the transaction itself, through the transactional event log, replaces the body of
        this method, not its callers.
        """
        kwargs = dict(kwargs or {})
        self._check(task, args, kwargs)
        job_id = self.broker.id_generator()

        async def send() -> None:
            await self.send(task, args, kwargs, job_id=job_id)

        unit.after_commit(send)
        return job_id

    def knows(self, task: str) -> bool:
        return self.broker.find_task(task) is not None

    def _check(self, task: str, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        if not self.knows(task):
            raise UnknownJobError(task)
        json.dumps([list(args), kwargs])  # what cannot travel fails here, not in a worker

    # Running.

    async def start(self) -> None:
        """Start the scheduler (and, in a worker, the consumer); never fails for Redis being
        down: what needs it logs and tries again."""
        self._finish.clear()
        self._ready = False
        try:
            await self._startup()
        except RedisError as error:
            logger.warning("jobs: Redis is unreachable (%r); trying again shortly", error)
        self._tasks = [self._spawn(self._schedule(), "scheduler")]
        if self.consume:
            self._tasks.append(self._spawn(self._work(), "worker"))
            self._tasks.append(self._spawn(self._reap(), "reaper"))

    async def _startup(self) -> None:
        """taskiq's broker start-up; with Redis it makes the consumer group (if missing)."""
        if not self._ready:
            await self.broker.startup()
            self._ready = True

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=f"{TASK_PREFIX}-{name}")
        task.add_done_callback(_log_crash)
        return task

    async def _schedule(self) -> None:
        await run_scheduler_task(
            self.scheduler,
            interval=timedelta(seconds=self.settings.job_schedule_refresh_seconds),
            loop_interval=timedelta(seconds=1),
        )

    async def _work(self) -> None:
        while not self._finish.is_set():
            receiver = Receiver(
                self.broker,
                run_startup=False,
                max_async_tasks=self.settings.job_concurrency,
                # Acknowledged once the job's retry or dead letter is filed, not before.
                ack_type=AcknowledgeType.WHEN_SAVED,
                wait_tasks_timeout=self.settings.shutdown_grace_seconds,
            )
            try:
                await self._startup()
                # Returns once `_finish` is set and the jobs in hand have finished.
                await receiver.listen(self._finish)
            except Exception as error:
                # An unacknowledged job stays pending: it is reclaimed, not lost.
                logger.warning("jobs: reading the queue failed (%r); trying again in 5 s", error)
                await _sleep_unless(5, self._finish)

    async def _reap(self) -> None:
        assert self.reaper is not None
        every = max(1.0, self.settings.job_claim_idle_seconds / 2)
        while not self._finish.is_set():
            try:
                await self.reaper.sweep()
            except Exception as error:
                logger.warning("jobs: sweeping the queue failed (%r)", error)
            await _sleep_unless(every, self._finish)

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
        """Stop taking jobs, let those in hand finish (up to `grace` seconds), close."""
        if self._finish.is_set():
            return  # stopped already
        self._finish.set()
        worker = [task for task in self._tasks if task.get_name().endswith("-worker")]
        if worker:
            _done, late = await asyncio.wait(worker, timeout=grace)
            if late:
                logger.warning("jobs: the jobs in hand did not finish within %.0f s", grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self.scheduler.abandon()
        if not self.consume:
            await self._wait_in_process(grace)
        await self.broker.shutdown()
        for source in self.scheduler.sources:
            await source.shutdown()
        await self.lock.close()
        if self.reaper is not None:
            await self.reaper.close()

    async def _wait_in_process(self, grace: float) -> None:
        """In-process jobs still running (InMemoryBroker) may finish within `grace`."""
        if not isinstance(self.broker, InMemoryBroker):
            return
        try:
            await asyncio.wait_for(self.broker.wait_all(), grace)
        except TimeoutError:
            logger.warning("jobs: the jobs in hand did not finish within %.0f s", grace)


async def _sleep_unless(seconds: float, stop: asyncio.Event) -> None:
    """Sleep `seconds`, or less if `stop` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        logger.error("jobs: %s crashed", task.get_name(), exc_info=error)
