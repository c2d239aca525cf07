"""Schedules on taskiq's scheduler, each tick enqueued by exactly one scheduler.

Every app and worker process runs a `TaskiqScheduler` loop (taskiq's own, `run_scheduler_task`)
over two sources: the periodic jobs declared on the tasks (`LabelScheduleSource`), and the
retries waiting for their backoff (`MemoryScheduleSource` in process, taskiq-redis's
`ListRedisScheduleSource` with Redis). taskiq expects a single scheduler process; we run one
per process, so `SingleScheduler` claims each tick with a lock before it enqueues, and only
the scheduler that claimed it does:

- an interval schedule's tick is its period since the Unix epoch (`floor(now / interval)`):
  schedulers started at different times agree on it without talking to each other;
- a one-off (`time`) schedule, a retry, is claimed once; a cron schedule once per minute.

The lock is a Redis key set with NX when Redis is configured (`RedisScheduleLock`), else a
dictionary shared by the process (`LocalScheduleLock`). A scheduler that cannot enqueue (Redis
down) releases its claim and tries again every few seconds until its tick has passed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol

from redis.asyncio import Redis
from taskiq import ScheduledTask, ScheduleSource, TaskiqScheduler
from taskiq.abc.broker import AsyncBroker

logger = logging.getLogger("storefront.jobs")

# How long a one-off schedule's claim is kept: far longer than any scheduler lags behind.
ONE_OFF_CLAIM_SECONDS = 24 * 3600.0


def tick_key(task: ScheduledTask, now: float) -> tuple[str, float]:
    """The key of the tick of `task` due at `now`, and how long to keep its claim."""
    if task.interval is not None:
        interval = task.interval
        seconds = interval.total_seconds() if isinstance(interval, timedelta) else float(interval)
        # Outlives the period, so a scheduler whose clock lags a little agrees too.
        return f"{task.schedule_id}:{int(now // seconds)}", 2 * seconds
    if task.cron is not None:
        return f"{task.schedule_id}:{int(now // 60)}", 120.0
    return task.schedule_id, ONE_OFF_CLAIM_SECONDS


class ScheduleLock(Protocol):
    async def claim(self, key: str, ttl_seconds: float) -> bool:
        """True for the first caller of `key` within `ttl_seconds`, False for the others."""
        ...

    async def release(self, key: str) -> None: ...

    async def close(self) -> None: ...


class LocalScheduleLock:
    """The claims of the schedulers of one process (the embedded default)."""

    def __init__(self) -> None:
        self._until: dict[str, float] = {}

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        now = time.monotonic()
        self._until = {k: until for k, until in self._until.items() if until > now}
        if key in self._until:
            return False
        self._until[key] = now + ttl_seconds
        return True

    async def release(self, key: str) -> None:
        self._until.pop(key, None)

    async def close(self) -> None:
        return None


class RedisScheduleLock:
    """Claims shared by every process on one Redis: `SET <prefix>:<key> 1 NX PX <ttl>`."""

    def __init__(self, url: str, *, prefix: str) -> None:
        self._redis = Redis.from_url(url, socket_connect_timeout=5)
        self._prefix = prefix

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        name = f"{self._prefix}:{key}"
        return bool(await self._redis.set(name, "1", nx=True, px=max(1, int(ttl_seconds * 1000))))

    async def release(self, key: str) -> None:
        await self._redis.delete(f"{self._prefix}:{key}")

    async def close(self) -> None:
        await self._redis.aclose()


class SingleScheduler(TaskiqScheduler):
    """taskiq's scheduler, enqueueing a tick only if this scheduler claimed it."""

    def __init__(
        self,
        broker: AsyncBroker,
        sources: list[ScheduleSource],
        lock: ScheduleLock,
        *,
        retry_after: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(broker, sources)
        self.lock = lock
        self.retry_after = retry_after
        self.clock = clock
        # The sends in flight: taskiq's loop starts each as a task of its own and forgets it.
        self._sending: set[asyncio.Task[Any]] = set()

    async def on_ready(self, source: ScheduleSource, task: ScheduledTask) -> None:
        current = asyncio.current_task()
        assert current is not None
        self._sending.add(current)
        try:
            await self._send_within_tick(source, task)
        finally:
            self._sending.discard(current)

    async def abandon(self) -> None:
        """Cancel the sends in flight (the loop has stopped; those retrying would go on)."""
        sending, self._sending = set(self._sending), set()
        for send in sending:
            send.cancel()
        await asyncio.gather(*sending, return_exceptions=True)

    async def _send_within_tick(self, source: ScheduleSource, task: ScheduledTask) -> None:
        key, ttl = tick_key(task, self.clock())
        while True:
            try:
                await self._send(source, task, key, ttl)
                return
            except Exception as error:
                # Redis down: never crash the loop; this tick is tried again while it lasts.
                logger.warning(
                    "scheduler: enqueueing %s failed (%r); trying again in %.0f s",
                    task.task_name,
                    error,
                    self.retry_after,
                )
            await asyncio.sleep(self.retry_after)
            if tick_key(task, self.clock())[0] != key:
                logger.warning("scheduler: gave up on %s for tick %s", task.task_name, key)
                return

    async def _send(
        self, source: ScheduleSource, task: ScheduledTask, key: str, ttl: float
    ) -> None:
        if not await self.lock.claim(key, ttl):
            return
        try:
            await super().on_ready(source, task)
        except BaseException:
            await self.lock.release(key)
            raise
        logger.info("scheduled job %s (tick %s)", task.task_name, key)


class MemoryScheduleSource(ScheduleSource):
    """Schedules added at run time (retries), kept in the process: the embedded default.

    taskiq's `LabelScheduleSource` cannot take new schedules, and taskiq-redis's need Redis.
    What is still waiting at shutdown is dropped with the process.
    """

    def __init__(self) -> None:
        self.schedules: dict[str, ScheduledTask] = {}

    async def get_schedules(self) -> list[ScheduledTask]:
        return list(self.schedules.values())

    async def add_schedule(self, schedule: ScheduledTask) -> None:
        self.schedules[schedule.schedule_id] = schedule

    async def delete_schedule(self, schedule_id: str) -> None:
        self.schedules.pop(schedule_id, None)

    async def post_send(self, task: ScheduledTask) -> None:
        if task.time is not None:
            await self.delete_schedule(task.schedule_id)
