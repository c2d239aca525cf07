"""The taskiq broker the settings call for, and what Redis Streams need beside it.

- REDIS_URL unset: taskiq's `InMemoryBroker`. A job runs in the process that enqueues it, as
  an asyncio task; nothing survives a restart (periodic jobs come round again).
- REDIS_URL set: taskiq-redis's `RedisStreamBroker`. Jobs are entries of the stream
  `<JOBS_REDIS_PREFIX>:stream`, read by the consumer group `workers`, so each goes to one
  worker process; a worker acknowledges an entry (XACK) only once its job has finished and
  its retry or dead letter is filed, and an entry left unacknowledged for
  `JOB_CLAIM_IDLE_SECONDS` (its worker died) is claimed by another worker (XAUTOCLAIM).
  Delivery is at least once: handlers must be idempotent.

taskiq-redis 1.2.4 reclaims only on the read after one that returned new entries: on an idle
queue a dead worker's job would wait for the next job anyone enqueues. `StreamReaper` closes
that gap: each worker process, every few seconds, claims the entries idle that long and puts
each back at the end of the stream in one transaction (XADD a copy, XACK and XDEL the old
one), where any worker reads it as new. The stream is capped at `JOBS_STREAM_MAXLEN` entries
(approximately: acknowledged entries are not deleted by the broker).
"""

from __future__ import annotations

import logging
import os
import socket
from secrets import token_hex
from typing import cast

from redis.asyncio import Redis
from taskiq import AsyncBroker, InMemoryBroker
from taskiq_redis import RedisStreamBroker

from impl.settings import Settings

logger = logging.getLogger("storefront.jobs")

GROUP = "workers"
REAPER = "storefront-reaper"


def stream_name(settings: Settings) -> str:
    return f"{settings.jobs_redis_prefix}:stream"


def consumer_name() -> str:
    """Unique per process and start, readable in XINFO CONSUMERS (host, pid, random)."""
    return f"{socket.gethostname()}-{os.getpid()}-{token_hex(3)}"


def build_broker(settings: Settings) -> AsyncBroker:
    if not settings.redis_url:
        return InMemoryBroker()
    idle_ms = int(settings.job_claim_idle_seconds * 1000)
    return RedisStreamBroker(
        settings.redis_url,
        queue_name=stream_name(settings),
        consumer_group_name=GROUP,
        consumer_name=consumer_name(),
        # From the stream's start: jobs enqueued before any worker existed run too.
        consumer_id="0",
        idle_timeout=idle_ms,
        unacknowledged_lock_timeout=max(1.0, settings.job_claim_idle_seconds),
        maxlen=settings.jobs_stream_maxlen,
        xread_block=1000,  # bounds how long a stop request waits for the read
        xread_count=settings.job_concurrency,
        # An unreachable Redis fails (and is retried) instead of hanging.
        socket_connect_timeout=5,
    )


class StreamReaper:
    """Puts back the entries whose worker died, also while nothing new is enqueued."""

    def __init__(self, settings: Settings) -> None:
        assert settings.redis_url
        self.redis = Redis.from_url(settings.redis_url, socket_connect_timeout=5)
        self.stream = stream_name(settings)
        self.idle_ms = int(settings.job_claim_idle_seconds * 1000)
        self.maxlen = settings.jobs_stream_maxlen

    async def sweep(self) -> int:
        """Requeue every entry idle `JOB_CLAIM_IDLE_SECONDS` or more; return how many."""
        requeued = 0
        start = "0-0"
        while True:
            reply = await self.redis.xautoclaim(
                self.stream, GROUP, REAPER, self.idle_ms, start_id=start, count=100
            )
            start, claimed = reply[0], cast("list[tuple[bytes, dict[bytes, bytes]]]", reply[1])
            for entry_id, fields in claimed:
                # A taskiq entry holds one field, its message: `data`; anything else is junk.
                data = fields.get(b"data")
                async with self.redis.pipeline(transaction=True) as pipe:
                    if data is not None:
                        pipe.xadd(
                            self.stream, {b"data": data}, maxlen=self.maxlen, approximate=True
                        )
                    pipe.xack(self.stream, GROUP, entry_id)
                    pipe.xdel(self.stream, entry_id)
                    await pipe.execute()
                requeued += data is not None
                logger.warning(
                    "jobs: %s stream entry %s: its worker held it unacknowledged for %.0f s "
                    "(presumed dead)",
                    "requeued" if data is not None else "dropped the malformed",
                    entry_id.decode(),
                    self.idle_ms / 1000,
                )
            if start in (b"0-0", "0-0"):
                return requeued

    async def close(self) -> None:
        await self.redis.aclose()
