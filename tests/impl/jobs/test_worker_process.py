"""`python -m impl worker` (`just worker`) as a real process, with and without Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.jobs.streams import RedisStreamQueue
from impl.jobs.tasks import HOUSEKEEPING
from impl.kit.clock import utcnow
from impl.kit.db import unit_of_work
from impl.models import IdempotencyKey, RefreshToken
from tests.conftest import Database
from tests.factories import create_idempotency_key, create_refresh_token, create_team, create_user
from tests.polling import until

ROOT = Path(__file__).resolve().parents[3]
PURGED = (
    "deleted 1 idempotency key(s) older than 24 h, 1 expired refresh token(s) and 0 expired "
    "sign-in(s)"
)


async def _expired_and_live_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    now = utcnow()
    async with unit_of_work(sessionmaker) as session:
        team = await create_team(session)
        await create_idempotency_key(session, team=team, created_at=now - timedelta(days=2))
        await create_idempotency_key(session, team=team, created_at=now)
        user = await create_user(session)
        await create_refresh_token(session, user=user, expires_at=now - timedelta(minutes=1))
        await create_refresh_token(session, user=user, expires_at=now + timedelta(days=1))


async def _purged(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    """Only the live key and the live token are left."""
    async with sessionmaker() as session:
        keys = await session.scalar(select(func.count()).select_from(IdempotencyKey))
        tokens = await session.scalar(select(func.count()).select_from(RefreshToken))
    return (keys, tokens) == (1, 1)


class WorkerProcess:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "impl", "worker"],
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "INFO", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    async def stop(self) -> str:
        """SIGTERM, as a process manager stops it; the exit status must be 0. Returns the log:
        JSON lines on stdout (it is no terminal), the job's lines tagged with the job."""
        self.process.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(self.process.communicate, timeout=30)
        assert self.process.returncode == 0, err
        assert err == ""
        records = [json.loads(line) for line in out.splitlines()]
        assert "Traceback" not in out
        assert records[-1]["event"] == "worker: stopped"
        done = [r for r in records if str(r["event"]).startswith("job ")]
        assert all(r["job_id"] in r["event"] for r in done)
        return out


async def test_with_redis_runs_a_job_enqueued_by_another_process(
    database: Database,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis_url: str,
    redis_prefix: str,
    redis: Redis,
) -> None:
    await _expired_and_live_rows(sessionmaker)
    producer = RedisStreamQueue.from_url(redis_url, prefix=redis_prefix)
    try:
        job_id = await producer.enqueue(HOUSEKEEPING)
    finally:
        await producer.close()

    worker = WorkerProcess(
        {
            "DATABASE_URL": database.url,
            "REDIS_URL": redis_url,
            "JOBS_REDIS_PREFIX": redis_prefix,
            # Only the job enqueued here runs: the worker schedules none of its own.
            "HOUSEKEEPING_INTERVAL_MINUTES": "0",
        }
    )
    try:
        await until(lambda: _purged(sessionmaker), within=60)
        await until(lambda: _stream_empty(redis, producer.stream))
    finally:
        log = await worker.stop()
    assert f"running jobs from Redis stream {redis_prefix}:stream" in log
    assert f"job {HOUSEKEEPING} {job_id} done" in log
    assert PURGED in log


async def _stream_empty(redis: Redis, stream: str) -> bool:
    return await redis.xlen(stream) == 0


async def test_without_redis_runs_housekeeping_standalone(
    database: Database, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _expired_and_live_rows(sessionmaker)
    worker = WorkerProcess({"DATABASE_URL": database.url, "REDIS_URL": ""})
    try:
        # The scheduler enqueues the current period's housekeeping as it starts.
        await until(lambda: _purged(sessionmaker), within=60)
    finally:
        log = await worker.stop()
    assert "REDIS_URL is unset, so this is a standalone in-process queue and scheduler" in log
    assert PURGED in log
