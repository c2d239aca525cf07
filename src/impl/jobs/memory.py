"""The in-process queue: asyncio, for the embedded default (one process, REDIS_URL unset).

Jobs live in memory: what is still queued, or waiting for a retry, at shutdown is dropped
(periodic jobs come round again next period). Use Redis when jobs must survive a restart.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from impl.jobs.core import (
    Dead,
    Job,
    JobHandlers,
    Retry,
    RetryPolicy,
    execute,
    new_job,
    unless_stopped,
)
from impl.observability.metrics import JOBS_QUEUED

DEAD_LETTERS_KEPT = 1000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    job: Job
    error: str
    failed_at: float


class InProcessQueue:
    def __init__(self, policy: RetryPolicy | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self._ready: asyncio.Queue[Job] = asyncio.Queue()
        self._once: dict[str, float] = {}
        self._retries: set[asyncio.TimerHandle] = set()
        # The most recent dead letters (each is also logged with its traceback).
        self.dead: deque[DeadLetter] = deque(maxlen=DEAD_LETTERS_KEPT)

    async def enqueue(self, name: str, payload: Mapping[str, Any] | None = None) -> str:
        job = new_job(name, payload)
        self._ready.put_nowait(job)
        JOBS_QUEUED.inc()
        return job.id

    async def enqueue_once(
        self, name: str, payload: Mapping[str, Any] | None, *, key: str, ttl_seconds: float
    ) -> bool:
        now = time.monotonic()
        self._once = {k: until for k, until in self._once.items() if until > now}
        if key in self._once:
            return False
        self._once[key] = now + ttl_seconds
        await self.enqueue(name, payload)
        return True

    def pending(self) -> int:
        """Jobs queued or waiting for a retry."""
        return self._ready.qsize() + len(self._retries)

    async def work(self, handlers: JobHandlers, stop: asyncio.Event) -> None:
        while not stop.is_set():
            job = await unless_stopped(self._ready.get(), stop)
            if job is None:
                return
            JOBS_QUEUED.dec()
            outcome = await execute(job, handlers, self.policy)
            if isinstance(outcome, Retry):
                self._retry_later(outcome)
            elif isinstance(outcome, Dead):
                self.dead.append(DeadLetter(outcome.job, outcome.error, time.time()))

    def _retry_later(self, retry: Retry) -> None:
        def due() -> None:
            self._retries.discard(handle)
            self._ready.put_nowait(retry.job)

        handle = asyncio.get_running_loop().call_later(retry.delay, due)
        self._retries.add(handle)
        JOBS_QUEUED.inc()

    async def close(self) -> None:
        # What is dropped is no longer queued.
        JOBS_QUEUED.dec(self.pending())
        for handle in self._retries:
            handle.cancel()
        self._retries.clear()
        while not self._ready.empty():
            self._ready.get_nowait()
