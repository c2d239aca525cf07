"""Jobs, the queue protocol, and the execution of one delivery, shared by every queue."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar
from uuid import uuid4

import structlog

from impl.observability.metrics import JOBS_FINISHED, JOBS_RUNNING

logger = logging.getLogger("storefront.jobs")

T = TypeVar("T")
JsonObject = dict[str, Any]
JobHandler = Callable[[JsonObject], Awaitable[None]]
JobHandlers = Mapping[str, JobHandler]


@dataclass(frozen=True, slots=True)
class Job:
    """One job: a registered name, a JSON payload, and the attempt this delivery is."""

    name: str
    payload: JsonObject = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid4().hex)
    attempt: int = 1
    enqueued_at: float = field(default_factory=time.time)

    def dumps(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "name": self.name,
                "payload": self.payload,
                "attempt": self.attempt,
                "enqueued_at": self.enqueued_at,
            },
            separators=(",", ":"),
        )

    @classmethod
    def loads(cls, text: str | bytes) -> Job:
        data = json.loads(text)
        return cls(
            name=str(data["name"]),
            payload=dict(data["payload"]),
            id=str(data["id"]),
            attempt=int(data["attempt"]),
            enqueued_at=float(data["enqueued_at"]),
        )

    def next_attempt(self) -> Job:
        return replace(self, attempt=self.attempt + 1)


def new_job(name: str, payload: Mapping[str, Any] | None) -> Job:
    """A first attempt; the payload must survive a JSON round trip (checked here, not later)."""
    body = dict(payload or {})
    json.dumps(body)
    return Job(name=name, payload=body)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most `max_attempts` runs; the n-th retry waits `base_delay * 2**(n-1)`, capped."""

    max_attempts: int = 5
    base_delay: float = 2.0
    max_delay: float = 300.0

    def delay(self, failed_attempt: int) -> float:
        return float(min(self.base_delay * 2 ** (failed_attempt - 1), self.max_delay))


@dataclass(frozen=True, slots=True)
class Done:
    pass


@dataclass(frozen=True, slots=True)
class Retry:
    job: Job
    delay: float


@dataclass(frozen=True, slots=True)
class Dead:
    job: Job
    error: str


Outcome = Done | Retry | Dead


async def execute(job: Job, handlers: JobHandlers, policy: RetryPolicy) -> Outcome:
    """Run one delivery of `job` (see `_execute`), its log lines tagged with the job, and
    counted in the jobs' metrics."""
    JOBS_RUNNING.inc()
    try:
        with structlog.contextvars.bound_contextvars(job=job.name, job_id=job.id):
            outcome = await _execute(job, handlers, policy)
    finally:
        JOBS_RUNNING.dec()
    kind = {Done: "done", Retry: "retry", Dead: "dead"}[type(outcome)]
    JOBS_FINISHED.labels(job.name, kind).inc()
    return outcome


async def _execute(job: Job, handlers: JobHandlers, policy: RetryPolicy) -> Outcome:
    """Run one delivery of `job`; say whether it is done, to retry later, or dead.

    A handler's exception never escapes: it is logged and becomes a retry, or after the
    last attempt a dead letter. Cancellation (shutdown) does escape, so the job is not
    acknowledged and a durable queue delivers it again.
    """
    handler = handlers.get(job.name)
    if handler is None:
        logger.error("job %s %s: no handler is registered for it; dead-lettered", job.name, job.id)
        return Dead(job, f"no handler registered for job {job.name!r}")
    started = time.perf_counter()
    try:
        await handler(job.payload)
    except Exception as error:
        text = "".join(traceback.format_exception_only(error)).strip()
        if job.attempt >= policy.max_attempts:
            logger.exception(
                "job %s %s failed on attempt %d of %d; dead-lettered",
                job.name,
                job.id,
                job.attempt,
                policy.max_attempts,
            )
            return Dead(job, text)
        delay = policy.delay(job.attempt)
        logger.warning(
            "job %s %s failed on attempt %d of %d (%s); retrying in %.1f s",
            job.name,
            job.id,
            job.attempt,
            policy.max_attempts,
            text,
            delay,
        )
        return Retry(job.next_attempt(), delay)
    logger.info(
        "job %s %s done in %.3f s (attempt %d)",
        job.name,
        job.id,
        time.perf_counter() - started,
        job.attempt,
    )
    return Done()


class JobQueue(Protocol):
    """What producers and workers need of a queue; `memory` and `streams` implement it."""

    async def enqueue(self, name: str, payload: Mapping[str, Any] | None = None) -> str:
        """Add a job; return its id."""
        ...

    async def enqueue_once(
        self, name: str, payload: Mapping[str, Any] | None, *, key: str, ttl_seconds: float
    ) -> bool:
        """Add a job unless one with the same `key` was added in the last `ttl_seconds`."""
        ...

    async def work(self, handlers: JobHandlers, stop: asyncio.Event) -> None:
        """Run jobs with `handlers` until `stop` is set; the job in hand is finished first."""
        ...

    async def close(self) -> None: ...


async def unless_stopped(work: Coroutine[Any, Any, T], stop: asyncio.Event) -> T | None:
    """Await `work` unless `stop` is set first (then `work` is cancelled and None returned)."""
    task = asyncio.ensure_future(work)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        return task.result()
    await asyncio.wait({task})  # let the cancellation finish
    return None
