"""Scale-out: taskiq-redis's RedisStreamBroker on a real Redis, each test under its own prefix."""

from __future__ import annotations

import asyncio
import logging

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.jobs.broker import GROUP, stream_name
from impl.settings import Settings
from tests.impl.jobs.conftest import MakeRuntime, Recorder, backed_off_then_dead
from tests.polling import until


async def _pending(redis: Redis, stream: str) -> int:
    summary = await redis.xpending(stream, GROUP)
    return int(summary["pending"])


async def test_a_job_enqueued_by_an_app_runs_in_a_worker_and_is_acknowledged(
    runtimes: MakeRuntime, redis_settings: Settings, recorder: Recorder, redis: Redis
) -> None:
    app = await runtimes(redis_settings)
    assert not app.consume  # an app process only enqueues
    for n in range(3):
        await app.kick("record", n=n)
    stream = stream_name(redis_settings)
    assert await redis.xlen(stream) == 3
    await asyncio.sleep(0.3)
    assert recorder.of("record") == []

    await runtimes(redis_settings, role="worker")
    await until(lambda: len(recorder.of("record")) == 3)
    assert sorted(run["n"] for run in recorder.of("record")) == [0, 1, 2]
    await until(lambda: _nothing_pending(redis, stream))


async def _nothing_pending(redis: Redis, stream: str) -> bool:
    return await _pending(redis, stream) == 0


async def test_failures_are_retried_with_backoff_then_dead_lettered(
    runtimes: MakeRuntime,
    redis_settings: Settings,
    recorder: Recorder,
    redis: Redis,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    app = await runtimes(redis_settings)
    await runtimes(redis_settings, role="worker")
    job_id = await app.kick("fail", id=1)
    await backed_off_then_dead(recorder, sessionmaker, job_id=job_id, kwargs={"id": 1})
    assert await _pending(redis, stream_name(redis_settings)) == 0
    # The retries waited in taskiq-redis's schedule store; none is left there.
    prefix = redis_settings.jobs_redis_prefix
    assert [key async for key in redis.scan_iter(match=f"{prefix}:retries:data:*")] == []


async def test_a_job_whose_worker_died_is_requeued_while_the_queue_is_idle(
    runtimes: MakeRuntime,
    redis_settings: Settings,
    recorder: Recorder,
    redis: Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = await runtimes(redis_settings)  # its start made the consumer group
    await app.kick("record", id=2)
    stream = stream_name(redis_settings)
    # A worker reads the job, then dies before acknowledging it.
    assert await redis.xreadgroup(GROUP, "doomed", {stream: ">"}, count=1)
    assert await _pending(redis, stream) == 1

    with caplog.at_level(logging.WARNING, logger="storefront.jobs"):
        await runtimes(redis_settings, role="worker")
        # Nothing else is enqueued: taskiq-redis alone would not reclaim it (see broker.py).
        await until(lambda: recorder.of("record") == [{"id": 2}], within=15)
        await until(lambda: _nothing_pending(redis, stream))
    assert any("requeued stream entry" in r.getMessage() for r in caplog.records)
