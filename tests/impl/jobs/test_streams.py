"""The Redis Streams queue on a real Redis (TEST_REDIS_URL), each test under its own prefix."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from impl.jobs.core import JobHandlers, JsonObject, RetryPolicy
from impl.jobs.scheduler import Periodic, Scheduler
from impl.jobs.streams import GROUP, RedisStreamQueue
from tests.polling import until

ROOT = Path(__file__).resolve().parents[3]
FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


@pytest.fixture
async def queues(
    redis_url: str, redis_prefix: str
) -> AsyncIterator[Callable[..., RedisStreamQueue]]:
    """Make queues on the test's prefix, each with a client of its own (as processes have)."""
    made: list[RedisStreamQueue] = []

    def make(**options: Any) -> RedisStreamQueue:
        options = {"policy": FAST, "block": 0.05, **options}
        queue = RedisStreamQueue.from_url(redis_url, prefix=redis_prefix, **options)
        made.append(queue)
        return queue

    try:
        yield make
    finally:
        for queue in made:
            await queue.close()


class Running:
    """A queue's worker loop as a task, stopped on exit."""

    def __init__(self, queue: RedisStreamQueue, handlers: JobHandlers) -> None:
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(queue.work(handlers, self.stop))

    async def __aenter__(self) -> Running:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self.stop.set()
        await self.task


def _recorder(runs: list[JsonObject], *, fail: bool = False) -> JobHandlers:
    async def record(payload: JsonObject) -> None:
        runs.append(payload)
        if fail:
            raise RuntimeError("always fails")

    return {"record": record}


async def _pending(redis: Redis, queue: RedisStreamQueue) -> int:
    summary = await redis.xpending(queue.stream, GROUP)
    return int(summary["pending"])


async def _dead_letters(redis: Redis, queue: RedisStreamQueue) -> list[dict[str, str]]:
    entries = await redis.xrange(queue.dead) or []
    return [cast("dict[str, str]", fields) for _id, fields in entries]


async def _settled(redis: Redis, queue: RedisStreamQueue) -> bool:
    """Nothing pending (every delivery acknowledged) and nothing left in the stream."""
    return await _pending(redis, queue) == 0 and await redis.xlen(queue.stream) == 0


async def test_jobs_run_and_are_acknowledged(
    queues: Callable[..., RedisStreamQueue], redis: Redis
) -> None:
    producer, consumer = queues(), queues()
    runs: list[JsonObject] = []
    for n in range(3):
        await producer.enqueue("record", {"n": n})
    async with Running(consumer, _recorder(runs)):
        await until(lambda: len(runs) == 3)
    assert runs == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert await _settled(redis, consumer)  # acknowledged entries are deleted too
    # A stopped worker leaves the group: consumers of dead processes do not pile up.
    assert await redis.xinfo_consumers(consumer.stream, GROUP) == []


async def test_failures_retried_with_backoff_then_dead_lettered(
    queues: Callable[..., RedisStreamQueue], redis: Redis
) -> None:
    queue = queues()
    runs: list[JsonObject] = []
    await queue.enqueue("record", {"id": 1})
    async with Running(queue, _recorder(runs, fail=True)):
        await until(lambda: redis.xlen(queue.dead))
        await asyncio.sleep(0.2)  # nothing more happens
    assert len(runs) == FAST.max_attempts
    [dead] = await _dead_letters(redis, queue)
    assert dead["error"] == "RuntimeError: always fails"
    assert '"attempt":3' in dead["job"]
    assert await redis.zcard(queue.delayed) == 0
    assert await _pending(redis, queue) == 0


async def test_a_job_of_a_dead_consumer_is_reclaimed(
    queues: Callable[..., RedisStreamQueue], redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    queue = queues(claim_idle=0.2)
    await queue.enqueue("record", {"id": 2})
    await redis.xgroup_create(queue.stream, GROUP, id="0", mkstream=True)
    # A worker reads the job, then dies before acknowledging it.
    assert await redis.xreadgroup(GROUP, "doomed", {queue.stream: ">"}, count=1)
    runs: list[JsonObject] = []
    with caplog.at_level(logging.WARNING, logger="storefront.jobs"):
        async with Running(queue, _recorder(runs)):
            await until(lambda: runs == [{"id": 2}])
            await until(lambda: _settled(redis, queue))
    assert any("reclaimed" in record.getMessage() for record in caplog.records)


async def test_a_job_that_kills_its_workers_is_dead_lettered(
    queues: Callable[..., RedisStreamQueue], redis: Redis
) -> None:
    queue = queues(claim_idle=0.1, policy=RetryPolicy(max_attempts=1))
    await queue.enqueue("record", {"id": 3})
    await redis.xgroup_create(queue.stream, GROUP, id="0", mkstream=True)
    await redis.xreadgroup(GROUP, "doomed", {queue.stream: ">"}, count=1)
    runs: list[JsonObject] = []
    async with Running(queue, _recorder(runs)):
        await until(lambda: redis.xlen(queue.dead))
    assert runs == []  # not run again: no crash loop
    [dead] = await _dead_letters(redis, queue)
    assert "stopped before finishing" in dead["error"]
    assert await _pending(redis, queue) == 0


async def test_racing_schedulers_enqueue_once_per_period(
    queues: Callable[..., RedisStreamQueue], redis: Redis
) -> None:
    every = Periodic("record", every_seconds=60)
    schedulers = [Scheduler(queues(), [every]) for _ in range(8)]
    now = 1_800_000_000.0

    first = await asyncio.gather(*(s.tick(now) for s in schedulers))
    later_same_period = await asyncio.gather(*(s.tick(now + 59) for s in schedulers))
    next_period = await asyncio.gather(*(s.tick(now + 60) for s in schedulers))

    assert sum(map(len, first)) == 1
    assert sum(map(len, later_same_period)) == 0
    assert sum(map(len, next_period)) == 1
    assert await redis.xlen(schedulers[0].queue.stream) == 2  # type: ignore[attr-defined]


async def test_an_entry_that_is_not_a_job_is_dead_lettered(
    queues: Callable[..., RedisStreamQueue], redis: Redis
) -> None:
    queue = queues()
    await redis.xadd(queue.stream, {"junk": "from someone else"})
    await queue.enqueue("record", {"id": 4})
    runs: list[JsonObject] = []
    async with Running(queue, _recorder(runs)):
        await until(lambda: runs == [{"id": 4}])  # the worker goes on to the next one
        await until(lambda: _settled(redis, queue))
    [dead] = await _dead_letters(redis, queue)
    assert dead["entry"] == '{"junk": "from someone else"}'
    assert dead["error"].startswith("not a job: KeyError")
