"""`python -m impl worker` (`just worker`) as real processes, with and without Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.jobs.broker import GROUP, stream_name
from impl.jobs.runtime import JobRuntime
from impl.jobs.tasks import HOUSEKEEPING
from impl.kit.clock import utcnow
from impl.kit.db import unit_of_work
from impl.models import IdempotencyKey, RefreshToken
from impl.settings import Settings
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
    def __init__(self, env: Mapping[str, str], args: Sequence[str] = ()) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "impl", "worker", *args],
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "INFO", **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    async def stop(self) -> list[dict[str, Any]]:
        """SIGTERM, as a process manager stops it; the exit status must be 0. Returns the log:
        JSON lines on stdout (it is no terminal), the jobs' lines tagged with their job."""
        self.process.send_signal(signal.SIGTERM)
        out, err = await asyncio.to_thread(self.process.communicate, timeout=60)
        assert self.process.returncode == 0, err
        assert err == ""
        records = [json.loads(line) for line in out.splitlines()]
        assert records[-1]["event"] == "worker: stopped"
        done = [r for r in records if str(r["event"]).startswith("job ")]
        assert all(r["job_id"] in r["event"] for r in done)
        return records


def _events(records: list[dict[str, Any]]) -> str:
    return "\n".join(str(r["event"]) for r in records)


async def _kick(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> str:
    """Enqueue housekeeping from this process, as an app process would."""
    producer = JobRuntime(settings, sessionmaker, role="app")
    await producer.start()
    try:
        return await producer.kick(HOUSEKEEPING)
    finally:
        await producer.stop()


def _redis_env(database: Database, settings: Settings) -> dict[str, str]:
    assert settings.redis_url
    return {
        "DATABASE_URL": database.url,
        "REDIS_URL": settings.redis_url,
        "JOBS_REDIS_PREFIX": settings.jobs_redis_prefix,
        "JOB_CLAIM_IDLE_SECONDS": "1",
        # Only the jobs enqueued here run: the workers schedule none of their own.
        "HOUSEKEEPING_INTERVAL_MINUTES": "0",
    }


async def test_with_redis_worker_processes_run_a_job_enqueued_by_another_process(
    database: Database,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis_settings: Settings,
    redis: Redis,
) -> None:
    await _expired_and_live_rows(sessionmaker)
    job_id = await _kick(redis_settings, sessionmaker)
    worker = WorkerProcess(_redis_env(database, redis_settings), ["--processes", "2"])
    try:
        await until(lambda: _purged(sessionmaker), within=60)
        await until(lambda: _nothing_pending(redis, stream_name(redis_settings)))
    finally:
        log = _events(await worker.stop())
    assert f"2 process(es) running jobs from Redis stream {stream_name(redis_settings)}" in log
    assert log.count("Started process worker-") == 2
    assert f"job {HOUSEKEEPING} {job_id} done" in log
    assert PURGED in log


async def _nothing_pending(redis: Redis, stream: str) -> bool:
    return int((await redis.xpending(stream, GROUP))["pending"]) == 0


@asynccontextmanager
async def _tables_locked(database: Database) -> AsyncIterator[None]:
    """Hold a lock that makes housekeeping's first DELETE wait (the write lock on SQLite)."""
    async with database.engine.connect() as connection:
        transaction = await connection.begin()  # SQLite: BEGIN IMMEDIATE (impl.kit.db)
        if database.backend == "postgresql":
            await connection.execute(text("LOCK TABLE idempotency_keys IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            await transaction.rollback()


async def test_a_worker_process_killed_mid_job_has_its_job_run_by_another(
    database: Database,
    sessionmaker: async_sessionmaker[AsyncSession],
    redis_settings: Settings,
    redis: Redis,
) -> None:
    await _expired_and_live_rows(sessionmaker)
    stream = stream_name(redis_settings)
    worker = WorkerProcess(_redis_env(database, redis_settings))
    try:
        async with _tables_locked(database):
            job_id = await _kick(redis_settings, sessionmaker)
            # The worker process took the job (pending, unacknowledged) and waits on the lock.
            await until(lambda: _holder(redis, stream), within=30)
            holder = await _holder(redis, stream)
            assert holder is not None
            os.kill(holder, signal.SIGKILL)
        # Unlocked: the process manager starts a new worker process, which finds the entry
        # idle past JOB_CLAIM_IDLE_SECONDS, puts it back on the stream and runs it.
        await until(lambda: _purged(sessionmaker), within=60)
        await until(lambda: _nothing_pending(redis, stream))
    finally:
        records = await worker.stop()
    log = _events(records)
    assert "worker-0 is dead. Scheduling reload." in log
    assert "requeued stream entry" in log
    [done] = [r for r in records if str(r["event"]).startswith(f"job {HOUSEKEEPING} {job_id} done")]
    assert done["job_id"] == job_id
    assert PURGED in log


async def _holder(redis: Redis, stream: str) -> int | None:
    """The pid of the worker process holding the stream's one pending entry, if any."""
    pending = await redis.xpending_range(stream, GROUP, min="-", max="+", count=1)
    if not pending:
        return None
    # Consumers are named host-pid-random (impl.jobs.broker.consumer_name).
    return int(str(pending[0]["consumer"]).rsplit("-", 2)[1])


async def test_without_redis_runs_housekeeping_standalone(
    database: Database, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _expired_and_live_rows(sessionmaker)
    worker = WorkerProcess({"DATABASE_URL": database.url, "REDIS_URL": ""})
    try:
        # The scheduler enqueues housekeeping at once as it starts.
        await until(lambda: _purged(sessionmaker), within=60)
    finally:
        log = _events(await worker.stop())
    assert "REDIS_URL is unset, so this is a standalone in-process broker and scheduler" in log
    assert PURGED in log


def test_without_redis_several_processes_are_refused(database: Database) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "impl", "worker", "--processes", "2"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database.url, "REDIS_URL": ""},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "without REDIS_URL there is no shared queue" in result.stderr
