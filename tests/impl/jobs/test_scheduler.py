from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

import pytest

from impl.jobs.memory import InProcessQueue
from impl.jobs.scheduler import Periodic, Scheduler
from tests.polling import until


class FlakyQueue(InProcessQueue):
    """Refuses the first `failures` enqueues, as a queue whose Redis is down would."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.keys: list[str] = []

    async def enqueue_once(
        self, name: str, payload: Mapping[str, Any] | None, *, key: str, ttl_seconds: float
    ) -> bool:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("queue unreachable")
        added = await super().enqueue_once(name, payload, key=key, ttl_seconds=ttl_seconds)
        if added:
            self.keys.append(key)
        return added


def test_periods_are_aligned_on_the_epoch() -> None:
    every = Periodic("housekeeping", every_seconds=900)
    assert every.period(1_800_000_000.0) == every.period(1_800_000_899.9) == 2_000_000
    assert every.next_due(1_800_000_000.0) == 1_800_000_900.0


async def test_runs_once_per_period() -> None:
    queue = FlakyQueue(failures=0)
    stop = asyncio.Event()
    task = asyncio.create_task(Scheduler(queue, [Periodic("tick", every_seconds=0.1)]).run(stop))
    await until(lambda: len(queue.keys) >= 3)
    stop.set()
    await task
    periods = [int(key.split(":")[1]) for key in queue.keys]
    # One job per period, periods in order (a busy machine may skip one, never repeat one).
    assert periods == sorted(set(periods))


async def test_an_unreachable_queue_is_retried_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    queue = FlakyQueue(failures=2)
    stop = asyncio.Event()
    scheduler = Scheduler(queue, [Periodic("tick", every_seconds=3600)], retry_after=0.01)
    with caplog.at_level(logging.WARNING, logger="storefront.jobs"):
        task = asyncio.create_task(scheduler.run(stop))
        await until(lambda: len(queue.keys) == 1)
        stop.set()
        await task
    warnings = [r.getMessage() for r in caplog.records if "scheduler" in r.getMessage()]
    assert len(warnings) == 2
    assert "queue unreachable" in warnings[0]


async def test_without_periodic_jobs_it_waits_for_stop() -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(Scheduler(FlakyQueue(failures=0), []).run(stop))
    await asyncio.sleep(0.05)
    assert not task.done()  # a worker process would take an ended task for a crash
    stop.set()
    await task
