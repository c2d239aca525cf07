"""Periodic jobs: each enqueued once per period, however many schedulers run.

Time is cut into periods of the job's interval since the Unix epoch; a scheduler enqueues
the job for the current period through `JobQueue.enqueue_once` keyed by the period's
number, so schedulers in several processes (each app and worker process runs one) agree
without talking to each other: on Redis the first to set the period's key enqueues it.
A scheduler that starts enqueues the current period's job at once if nobody has yet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from impl.jobs.core import JobQueue, unless_stopped

logger = logging.getLogger("storefront.jobs")


@dataclass(frozen=True, slots=True)
class Periodic:
    name: str
    every_seconds: float
    payload: Mapping[str, Any] = field(default_factory=dict)

    def period(self, now: float) -> int:
        return int(now // self.every_seconds)

    def next_due(self, now: float) -> float:
        return (self.period(now) + 1) * self.every_seconds


class Scheduler:
    def __init__(
        self,
        queue: JobQueue,
        periodic: Sequence[Periodic],
        *,
        clock: Callable[[], float] = time.time,
        retry_after: float = 10.0,
    ) -> None:
        self.queue = queue
        self.periodic = tuple(periodic)
        self.clock = clock
        self.retry_after = retry_after

    async def tick(self, now: float | None = None) -> list[str]:
        """Enqueue each job whose current period has none yet; return the names enqueued."""
        now = self.clock() if now is None else now
        enqueued = []
        for job in self.periodic:
            period = job.period(now)
            if await self.queue.enqueue_once(
                job.name,
                job.payload,
                key=f"{job.name}:{period}",
                # Outlives the period, so a scheduler whose clock lags a little agrees too.
                ttl_seconds=2 * job.every_seconds,
            ):
                logger.info("scheduled job %s for period %d", job.name, period)
                enqueued.append(job.name)
        return enqueued

    async def run(self, stop: asyncio.Event) -> None:
        if not self.periodic:
            await stop.wait()
            return
        while not stop.is_set():
            try:
                await self.tick()
            except Exception as error:
                # The queue is unreachable (Redis down): try again soon, never crash the app.
                logger.warning(
                    "scheduler: enqueueing failed (%r); trying again in %.0f s",
                    error,
                    self.retry_after,
                )
                await unless_stopped(asyncio.sleep(self.retry_after), stop)
                continue
            now = self.clock()
            wait = min(job.next_due(now) for job in self.periodic) - now
            # A hair past the boundary, so the next tick sees the new period.
            await unless_stopped(asyncio.sleep(max(wait, 0.0) + 0.01), stop)
