"""The last good summary per key (a team, by default), served marked stale when no new one
can be made.

`LlmClient` writes every summary it makes and, when the provider is unavailable, hands
the last good one back in `Unavailable.last_good`. In-process by default; in Redis when
`REDIS_URL` is set, so every worker sees what any of them made. A store that fails (Redis
down) never fails the caller: a read gives None, a write is logged and dropped.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from impl.insights.llm.model import Summary

logger = structlog.get_logger("storefront.llm")


class LastGoodStore(Protocol):
    async def get(self, key: str) -> Summary | None: ...

    async def put(self, key: str, summary: Summary) -> None: ...


class MemoryLastGood:
    """In this process only, the `max_entries` most recently written keys."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, Summary] = OrderedDict()
        self._max = max_entries

    async def get(self, key: str) -> Summary | None:
        return self._entries.get(key)

    async def put(self, key: str, summary: Summary) -> None:
        self._entries[key] = summary
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)


class RedisLastGood:
    """`<prefix>:last-good:<key>`: the summary as JSON, kept `ttl_seconds` after its writing."""

    def __init__(self, redis: Redis, prefix: str, *, ttl_seconds: int = 30 * 24 * 3600) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:last-good:"
        self._ttl = ttl_seconds

    async def get(self, key: str) -> Summary | None:
        try:
            raw = await self._redis.get(self._prefix + key)
        except RedisError as error:
            logger.warning("llm last good summary unreadable", key=key, error=repr(error))
            return None
        if raw is None:
            return None
        try:
            return Summary.model_validate_json(raw)
        except ValidationError:
            logger.warning("llm last good summary is not a summary; ignored", key=key)
            return None

    async def put(self, key: str, summary: Summary) -> None:
        try:
            await self._redis.set(self._prefix + key, summary.model_dump_json(), ex=self._ttl)
        except RedisError as error:
            logger.warning("llm last good summary not kept", key=key, error=repr(error))
