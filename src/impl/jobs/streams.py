"""The durable queue: Redis Streams with a consumer group, for several worker processes.

Keys, under a prefix (`JOBS_REDIS_PREFIX`):

- `<prefix>:stream`: jobs to run, one entry each (field `job`, JSON); consumer group
  `workers`. Each worker reads with XREADGROUP, so an entry goes to one worker, and
  acknowledges it (XACK, then XDEL) only when the job is finished: a worker that dies
  before that leaves the entry pending, and another worker takes it over with XAUTOCLAIM
  once it has been idle `claim_idle` seconds.
- `<prefix>:delayed`: retries waiting for their backoff, a sorted set scored by due time;
  moved back to the stream by a script, atomically, when due.
- `<prefix>:dead`: the dead letters: jobs that failed every attempt (or whose workers died
  running them that often), with the error; kept until an operator deletes them.
- `<prefix>:once:<key>`: marks that a periodic job was enqueued for a period.

Delivery is at least once: a job may run again after a crash between its end and its
acknowledgement, so handlers must be idempotent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Mapping
from secrets import token_hex
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from impl.jobs.core import (
    Dead,
    Done,
    Job,
    JobHandlers,
    Outcome,
    Retry,
    RetryPolicy,
    execute,
    new_job,
    unless_stopped,
)

logger = logging.getLogger("storefront.jobs")

GROUP = "workers"

# Atomic "mark and enqueue": two schedulers racing for one period enqueue one job.
_ENQUEUE_ONCE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  redis.call('XADD', KEYS[2], '*', 'job', ARGV[2])
  return 1
end
return 0
"""

# Atomic "take due retries and enqueue them": a retry is never lost nor enqueued twice.
_PROMOTE_DUE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, job in ipairs(due) do
  redis.call('ZREM', KEYS[1], job)
  redis.call('XADD', KEYS[2], '*', 'job', job)
end
return #due
"""


def consumer_name() -> str:
    """Unique per process and start, readable in XINFO CONSUMERS."""
    return f"{socket.gethostname()}-{os.getpid()}-{token_hex(3)}"


class RedisStreamQueue:
    def __init__(
        self,
        client: Redis,
        *,
        prefix: str,
        policy: RetryPolicy | None = None,
        claim_idle: float = 300.0,
        block: float = 1.0,
        consumer: str | None = None,
    ) -> None:
        """`client` must decode responses; `block` bounds how long a stop request waits."""
        self.client = client
        self.policy = policy or RetryPolicy()
        self.claim_idle_ms = int(claim_idle * 1000)
        self.block_ms = max(1, int(block * 1000))
        self.consumer = consumer or consumer_name()
        self.stream = f"{prefix}:stream"
        self.delayed = f"{prefix}:delayed"
        self.dead = f"{prefix}:dead"
        self.once_prefix = f"{prefix}:once:"
        self._enqueue_once = client.register_script(_ENQUEUE_ONCE)
        self._promote_due = client.register_script(_PROMOTE_DUE)
        self._group_ready = False

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStreamQueue:
        # A connect timeout, so an unreachable Redis fails (and is retried) instead of hanging.
        client = Redis.from_url(url, decode_responses=True, socket_connect_timeout=5)
        return cls(client, **options)

    async def enqueue(self, name: str, payload: Mapping[str, Any] | None = None) -> str:
        job = new_job(name, payload)
        await self.client.xadd(self.stream, {"job": job.dumps()})
        return job.id

    async def enqueue_once(
        self, name: str, payload: Mapping[str, Any] | None, *, key: str, ttl_seconds: float
    ) -> bool:
        job = new_job(name, payload)
        added = await self._enqueue_once(
            keys=[self.once_prefix + key, self.stream],
            args=[max(1, int(ttl_seconds * 1000)), job.dumps()],
        )
        return bool(added)

    async def work(self, handlers: JobHandlers, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                try:
                    await self._ensure_group()
                    delivery = await self._reclaim() or await self._read()
                    if delivery is not None:
                        await self._settle(delivery[0], await self._run(delivery[1], handlers))
                except RedisError as error:
                    # An unacknowledged job stays pending: it is reclaimed, not lost.
                    self._group_ready = False
                    logger.warning("jobs: Redis failed (%r); trying again in 5 s", error)
                    await unless_stopped(asyncio.sleep(5), stop)
        finally:
            await self._leave_group()

    async def close(self) -> None:
        await self.client.aclose()

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        # From id 0: jobs enqueued before any worker existed are run too.
        try:
            await self.client.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._group_ready = True

    async def _read(self) -> tuple[str, Job] | None:
        await self._promote_due(keys=[self.delayed, self.stream], args=[time.time(), 100])
        response = await self.client.xreadgroup(
            GROUP, self.consumer, {self.stream: ">"}, count=1, block=self.block_ms
        )
        # RESP2 (the client's default): [[stream, [(entry id, fields), ...]]], or None.
        streams = cast("list[tuple[str, list[tuple[str, dict[str, str]]]]]", response or [])
        for _stream, entries in streams:
            for entry_id, fields in entries:
                return await self._parse(entry_id, fields)
        return None

    async def _parse(self, entry_id: str, fields: dict[str, str]) -> tuple[str, Job] | None:
        """The entry's job; an entry that is not one is dead-lettered as it is, not retried."""
        try:
            return entry_id, Job.loads(fields["job"])
        except (KeyError, TypeError, ValueError) as error:
            logger.error("jobs: entry %s is not a job (%r); dead-lettered", entry_id, error)
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.xadd(
                    self.dead, {"entry": json.dumps(fields), "error": f"not a job: {error!r}"}
                )
                pipe.xack(self.stream, GROUP, entry_id)
                pipe.xdel(self.stream, entry_id)
                await pipe.execute()
            return None

    async def _reclaim(self) -> tuple[str, Job] | None:
        """Take over one entry whose worker has held it unacknowledged too long."""
        _next, claimed, _deleted = await self.client.xautoclaim(
            self.stream, GROUP, self.consumer, self.claim_idle_ms, start_id="0-0", count=1
        )
        for entry_id, fields in claimed:
            pending = await self.client.xpending_range(
                self.stream, GROUP, min=entry_id, max=entry_id, count=1
            )
            deliveries = int(pending[0]["times_delivered"]) if pending else 1
            parsed = await self._parse(entry_id, fields)
            if parsed is None:
                return None
            job = parsed[1]
            # Each earlier delivery ended without an acknowledgement: a failed attempt.
            attempt = job.attempt + deliveries - 1
            logger.warning(
                "job %s %s reclaimed: its worker stopped before finishing it (delivery %d)",
                job.name,
                job.id,
                deliveries,
            )
            return entry_id, Job(job.name, job.payload, job.id, attempt, job.enqueued_at)
        return None

    async def _run(self, job: Job, handlers: JobHandlers) -> Outcome:
        if job.attempt > self.policy.max_attempts:
            logger.error(
                "job %s %s: its workers stopped before finishing it %d times; dead-lettered",
                job.name,
                job.id,
                job.attempt - 1,
            )
            return Dead(job, "the worker stopped before finishing it on every attempt")
        return await execute(job, handlers, self.policy)

    async def _settle(self, entry_id: str, outcome: Outcome) -> None:
        """Acknowledge the entry and, in the same transaction, file its retry or dead letter."""
        async with self.client.pipeline(transaction=True) as pipe:
            if isinstance(outcome, Retry):
                pipe.zadd(self.delayed, {outcome.job.dumps(): time.time() + outcome.delay})
            elif isinstance(outcome, Dead):
                pipe.xadd(
                    self.dead,
                    {"job": outcome.job.dumps(), "error": outcome.error, "failed_at": time.time()},
                )
            else:
                assert isinstance(outcome, Done)
            pipe.xack(self.stream, GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
            await pipe.execute()

    async def _leave_group(self) -> None:
        """Remove this consumer from the group, unless it still holds entries."""
        try:
            held = await self.client.xpending_range(
                self.stream, GROUP, min="-", max="+", count=1, consumername=self.consumer
            )
            if not held:
                await self.client.xgroup_delconsumer(self.stream, GROUP, self.consumer)
        except RedisError as error:
            logger.warning("jobs: could not leave the consumer group (%r)", error)
