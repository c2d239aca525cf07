"""The embedded default: taskiq's InMemoryBroker, jobs run in the process that enqueues them."""

from __future__ import annotations

import asyncio
import logging

import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.jobs.runtime import UnknownJobError
from impl.kit.db import Units
from impl.settings import Settings
from tests.impl.jobs.conftest import MakeRuntime, Recorder, backed_off_then_dead
from tests.polling import until


async def test_jobs_run_where_they_are_enqueued(
    runtimes: MakeRuntime, job_settings: Settings, recorder: Recorder
) -> None:
    runtime = await runtimes(job_settings)
    for n in range(3):
        await runtime.kick("record", n=n)
    await until(lambda: len(recorder.of("record")) == 3)
    assert sorted(run["n"] for run in recorder.of("record")) == [0, 1, 2]


async def test_failures_are_retried_with_backoff_then_dead_lettered(
    runtimes: MakeRuntime,
    job_settings: Settings,
    recorder: Recorder,
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = await runtimes(job_settings)
    with caplog.at_level(logging.INFO, logger="storefront.jobs"):
        job_id = await runtime.kick("fail", id=8)
        await backed_off_then_dead(recorder, sessionmaker, job_id=job_id, kwargs={"id": 8})
    ours = [r for r in caplog.records if r.name == "storefront.jobs" and job_id in r.getMessage()]
    retrying = [r for r in ours if "retrying in" in r.getMessage()]
    assert [r.levelno for r in retrying] == [logging.WARNING] * 2
    [final] = [r for r in ours if "dead-lettered" in r.getMessage()]
    assert final.levelno == logging.ERROR


async def test_enqueue_waits_for_the_commit(
    runtimes: MakeRuntime,
    job_settings: Settings,
    recorder: Recorder,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    runtime = await runtimes(job_settings)
    units = Units(sessionmaker)
    async with units.open(read_only=False) as unit:
        job_id = runtime.enqueue(unit, "record", kwargs={"n": 1})
        await asyncio.sleep(0.1)
        assert recorder.of("record") == []  # not before the commit
    await until(lambda: recorder.of("record") == [{"n": 1}])

    async def rolled_back() -> None:
        async with units.open(read_only=False) as unit:
            runtime.enqueue(unit, "record", kwargs={"n": 2})
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError, match="rolled back"):
        await rolled_back()
    await asyncio.sleep(0.2)
    assert recorder.of("record") == [{"n": 1}]  # a rolled-back unit enqueued nothing
    assert len(job_id) == 32


async def test_unknown_jobs_and_payloads_that_cannot_travel_are_refused(
    runtimes: MakeRuntime, job_settings: Settings
) -> None:
    runtime = await runtimes(job_settings)
    with pytest.raises(UnknownJobError):
        await runtime.kick("nobody-handles-this")
    with pytest.raises(TypeError):
        await runtime.kick("record", when=object())


async def test_stop_lets_the_jobs_in_hand_finish(
    runtimes: MakeRuntime, job_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from impl.jobs.runtime import JobRuntime

    finished: list[str] = []
    started = asyncio.Event()

    async def slow() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append("slow")

    runtime = JobRuntime(job_settings, sessionmaker, role="app")
    runtime.broker.register_task(slow, task_name="slow")
    await runtime.start()
    await runtime.kick("slow")
    await started.wait()
    await runtime.stop(grace=5)
    assert finished == ["slow"]


async def test_a_job_does_not_inherit_the_context_of_whoever_enqueued_it(
    job_settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    from impl.jobs.runtime import JobRuntime

    seen: list[dict[str, object]] = []

    async def look() -> None:
        seen.append(structlog.contextvars.get_contextvars())

    runtime = JobRuntime(job_settings, sessionmaker, role="app")
    runtime.broker.register_task(look, task_name="look")
    await runtime.start()
    try:
        # As a request's log fields would be: a worker process would never see them.
        with structlog.contextvars.bound_contextvars(request_id="req-1"):
            job_id = await runtime.kick("look")
        await until(lambda: seen)
    finally:
        await runtime.stop()
    assert seen == [{"job": "look", "job_id": job_id}]
