"""taskiq's scheduler in every process, each tick enqueued once (`impl.jobs.schedule`)."""

from __future__ import annotations

import asyncio
import logging
import socket
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis
from taskiq import ScheduledTask

from impl.jobs.broker import stream_name
from impl.jobs.runtime import JobRuntime
from impl.jobs.schedule import (
    ONE_OFF_CLAIM_SECONDS,
    LocalScheduleLock,
    RedisScheduleLock,
    ScheduleLock,
    tick_key,
)
from impl.settings import Settings
from tests.impl.jobs.conftest import MakeRuntime, Recorder
from tests.polling import until

NOW = 1_800_000_000.0


def _every(seconds: int) -> ScheduledTask:
    return ScheduledTask(
        task_name="tick", labels={}, args=[], kwargs={}, schedule_id="tick", interval=seconds
    )


def test_ticks_are_periods_since_the_epoch() -> None:
    every = _every(900)
    assert tick_key(every, NOW) == tick_key(every, NOW + 899.9) == ("tick:2000000", 1800.0)
    assert tick_key(every, NOW + 900)[0] == "tick:2000001"
    timed = timedelta(minutes=15)
    assert tick_key(_every(900).model_copy(update={"interval": timed}), NOW)[0] == "tick:2000000"
    cron = _every(1).model_copy(update={"interval": None, "cron": "*/5 * * * *"})
    assert tick_key(cron, NOW) == (f"tick:{int(NOW // 60)}", 120.0)
    once = _every(1).model_copy(update={"interval": None, "time": datetime.now(UTC)})
    assert tick_key(once, NOW) == ("tick", ONE_OFF_CLAIM_SECONDS)


async def test_the_local_lock_claims_once_per_key() -> None:
    lock = LocalScheduleLock()
    assert await lock.claim("a:1", 60)
    assert not await lock.claim("a:1", 60)
    assert await lock.claim("a:2", 60)
    assert await lock.claim("short", 0.01)
    await asyncio.sleep(0.02)
    assert await lock.claim("short", 0.01)
    await lock.release("a:1")
    assert await lock.claim("a:1", 60)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_racing_schedulers_enqueue_each_tick_once(
    runtimes: MakeRuntime, redis_settings: Settings, redis: Redis
) -> None:
    # Eight processes' schedulers, each on its own connections, told the same tick is due.
    apps = [await runtimes(redis_settings) for _ in range(8)]
    clock = Clock(NOW)
    for app in apps:
        app.scheduler.clock = clock
    task, source = _every(60), apps[0].scheduler.sources[0]

    async def all_ready() -> None:
        await asyncio.gather(*(app.scheduler.on_ready(source, task) for app in apps))

    stream = stream_name(redis_settings)
    await all_ready()
    assert await redis.xlen(stream) == 1
    clock.now = NOW + 59  # the same period
    await all_ready()
    assert await redis.xlen(stream) == 1
    clock.now = NOW + 60  # the next one
    await all_ready()
    assert await redis.xlen(stream) == 2


class CountingLock:
    """A real lock, counting who asked for which tick and who got it."""

    def __init__(self, lock: ScheduleLock, claims: list[tuple[int, str, bool]], me: int) -> None:
        self.lock, self.claims, self.me = lock, claims, me

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        won = await self.lock.claim(key, ttl_seconds)
        self.claims.append((self.me, key, won))
        return won

    async def release(self, key: str) -> None:
        await self.lock.release(key)

    async def close(self) -> None:
        await self.lock.close()


async def _two_schedulers_running(
    runtimes: MakeRuntime, settings: Settings
) -> tuple[list[JobRuntime], list[tuple[int, str, bool]]]:
    claims: list[tuple[int, str, bool]] = []
    apps = [await runtimes(settings, tick_every=1) for _ in range(2)]
    for me, app in enumerate(apps):
        # Before their first tick: the loop waits for the next whole second to begin.
        app.scheduler.lock = CountingLock(app.scheduler.lock, claims, me)
    await until(lambda: len({key for _me, key, _won in claims}) >= 4, within=15)
    for app in apps:
        await app.stop(grace=5)
    return apps, claims


def _check_one_winner_per_tick(claims: list[tuple[int, str, bool]]) -> list[str]:
    ticks = sorted({key for _me, key, _won in claims})
    for key in ticks:
        assert sum(won for _me, k, won in claims if k == key) == 1, key
    # Both competed: each asked for ticks (and some other scheduler already had them).
    assert {me for me, _key, _won in claims} == {0, 1}
    return [key for _me, key, won in claims if won]


async def test_two_schedulers_on_redis_enqueue_one_job_per_tick(
    runtimes: MakeRuntime, redis_settings: Settings, redis: Redis
) -> None:
    _apps, claims = await _two_schedulers_running(runtimes, redis_settings)
    won = _check_one_winner_per_tick(claims)
    # Consecutive periods, each once; the stream holds exactly one job per tick won.
    periods = sorted(int(key.split(":")[1]) for key in won)
    assert periods == list(range(periods[0], periods[0] + len(periods)))
    assert await redis.xlen(stream_name(redis_settings)) == len(won)


async def test_two_schedulers_in_one_process_run_one_job_per_tick(
    runtimes: MakeRuntime, job_settings: Settings, recorder: Recorder
) -> None:
    _apps, claims = await _two_schedulers_running(runtimes, job_settings)
    won = _check_one_winner_per_tick(claims)
    await until(lambda: len(recorder.of("tick")) == len(won))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port  # closed again: nothing listens there


async def test_an_unreachable_lock_is_tried_again_within_the_tick(
    runtimes: MakeRuntime, job_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = await runtimes(job_settings)
    scheduler = app.scheduler
    scheduler.lock = RedisScheduleLock(f"redis://127.0.0.1:{_closed_port()}/0", prefix="x")
    scheduler.retry_after = 0.05
    clock = Clock(NOW)
    scheduler.clock = clock
    with caplog.at_level(logging.WARNING, logger="storefront.jobs"):
        ready = asyncio.create_task(scheduler.on_ready(scheduler.sources[0], _every(60)))
        await until(lambda: _warnings(caplog) >= 2)
        assert not ready.done()  # still trying, not crashed
        clock.now = NOW + 60  # its tick has passed
        await asyncio.wait_for(ready, 5)
    assert "Connection" in caplog.records[0].getMessage()
    assert any("gave up on tick" in r.getMessage() for r in caplog.records)
    await scheduler.lock.close()


def _warnings(caplog: pytest.LogCaptureFixture) -> int:
    return sum("enqueueing tick failed" in r.getMessage() for r in caplog.records)


async def test_stopping_cancels_the_sends_still_trying(
    runtimes: MakeRuntime, job_settings: Settings
) -> None:
    app = await runtimes(job_settings, tick_every=1)
    unreachable = RedisScheduleLock(f"redis://127.0.0.1:{_closed_port()}/0", prefix="x")
    app.scheduler.lock, app.scheduler.retry_after = unreachable, 0.05

    def sending() -> set[str]:
        # taskiq's scheduler loop names each send task after its schedule.
        return {t.get_name() for t in asyncio.all_tasks() if t.get_name() == "schedule_tick"}

    await until(sending)
    await app.stop(grace=5)
    assert sending() == set()
    await unreachable.close()
