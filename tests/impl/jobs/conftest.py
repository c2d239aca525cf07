"""Job runtimes with a few test tasks besides the service's, started and stopped per test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.jobs.runtime import JobRuntime
from impl.models import DeadLetter
from impl.settings import Settings
from tests.polling import until


@dataclass
class Recorder:
    """What the test tasks did: each run's task, arguments and (wall clock) time."""

    runs: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)

    def of(self, task: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs, _at in self.runs if name == task]

    def times(self, task: str) -> list[float]:
        return [at for name, _kwargs, at in self.runs if name == task]

    def add_tasks(self, runtime: JobRuntime, *, tick_every: int | None = None) -> None:
        """`record(**kw)` records; `fail(**kw)` records and raises; `tick()` records, on
        a schedule of `tick_every` seconds if given."""

        async def record(**kwargs: Any) -> None:
            self.runs.append(("record", kwargs, time.time()))

        async def fail(**kwargs: Any) -> None:
            self.runs.append(("fail", kwargs, time.time()))
            raise RuntimeError("always fails")

        async def tick() -> None:
            self.runs.append(("tick", {}, time.time()))

        schedule = [{"interval": tick_every, "schedule_id": "tick"}] if tick_every else []
        runtime.broker.register_task(record, task_name="record")
        runtime.broker.register_task(fail, task_name="fail")
        runtime.broker.register_task(tick, task_name="tick", schedule=schedule)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def job_settings(settings: Settings) -> Settings:
    """Fast retries (1 s, then 2 s), three attempts, and no housekeeping schedule."""
    return settings.model_copy(
        update={
            "job_max_attempts": 3,
            "job_retry_delay_seconds": 1.0,
            "job_schedule_refresh_seconds": 1.0,
            "housekeeping_interval_minutes": 0,
        }
    )


@pytest.fixture
def redis_settings(job_settings: Settings, redis_url: str, redis_prefix: str) -> Settings:
    return job_settings.model_copy(
        update={
            "redis_url": redis_url,
            "jobs_redis_prefix": redis_prefix,
            "job_claim_idle_seconds": 1.0,
        }
    )


class MakeRuntime(Protocol):
    async def __call__(
        self,
        settings: Settings,
        *,
        role: Literal["app", "worker"] = "app",
        tick_every: int | None = None,
    ) -> JobRuntime: ...


@pytest.fixture
async def runtimes(
    sessionmaker: async_sessionmaker[AsyncSession], recorder: Recorder
) -> AsyncIterator[MakeRuntime]:
    """`await runtimes(settings, role=..., tick_every=None)`: a started runtime with the test
    tasks; all are stopped after the test."""
    started: list[JobRuntime] = []

    async def make(
        settings: Settings,
        *,
        role: Literal["app", "worker"] = "app",
        tick_every: int | None = None,
    ) -> JobRuntime:
        runtime = JobRuntime(settings, sessionmaker, role=role)
        recorder.add_tasks(runtime, tick_every=tick_every)
        await runtime.start()
        started.append(runtime)
        return runtime

    try:
        yield make
    finally:
        for runtime in started:
            await runtime.stop(grace=5)


async def dead_letters(sessionmaker: async_sessionmaker[AsyncSession]) -> list[DeadLetter]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(DeadLetter).order_by(DeadLetter.id))).all())


async def backed_off_then_dead(
    recorder: Recorder,
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    job_id: str,
    kwargs: dict[str, Any],
) -> DeadLetter:
    """Wait for the `fail` job `job_id` to be dead-lettered; check it ran three times, the
    retries 1 s and then 2 s apart at least (plus jitter), and what its dead letter says."""

    async def filed() -> bool:
        return bool(await dead_letters(sessionmaker))

    await until(filed, within=20)
    await asyncio.sleep(1.5)  # no further attempt comes
    first, second, third = recorder.times("fail")
    assert second - first >= 1.0
    assert third - second >= 2.0
    [dead] = await dead_letters(sessionmaker)
    assert (dead.job_id, dead.task, dead.args, dead.kwargs) == (job_id, "fail", [], kwargs)
    assert (dead.attempts, dead.error) == (3, "RuntimeError: always fails")
    assert dead.retried_at is None
    return dead
