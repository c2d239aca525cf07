"""The provider's circuit breaker: purgatory's, its state in this process or in Redis.

Closed, it counts consecutive failed attempts (a success resets the count); at the
threshold it opens, and every attempt is refused at once (`CircuitOpen`) for the
cool-down. After it, attempts go through as probes (half-open): a success closes the
circuit, a failure opens it for another cool-down. Failures that say nothing about the
provider's health (a `rejected` request, our own `error`) do not count.

With `REDIS_URL`, every process reads the state from Redis before each attempt and writes
what it learns (`<prefix>:breaker:<name>` and `...::failure_count`, purgatory's layout),
so one worker tripping the breaker stops the others calling too. purgatory reads and
writes without a transaction: two processes failing at once may both count, or both
probe; the breaker stays a breaker, give or take an attempt. If Redis cannot be read, the
attempt goes ahead unguarded (logged): the breaker protects the provider, it is no reason
to fail on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from purgatory import AsyncCircuitBreakerFactory, AsyncInMemoryUnitOfWork, AsyncRedisUnitOfWork
from purgatory.domain.model import OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker
from purgatory.service._async.repository import AsyncRedisRepository
from purgatory.service._async.unit_of_work import AsyncAbstractUnitOfWork
from redis.asyncio import Redis
from redis.exceptions import RedisError

from impl.insights.llm.provider import ProviderFailure
from impl.observability.metrics import LLM_CIRCUIT_STATE

logger = structlog.get_logger("storefront.llm")
T = TypeVar("T")
_GAUGE = {"closed": 0, "half-opened": 1, "opened": 2}


class CircuitOpen(Exception):
    """The breaker refused the attempt; `retry_after`: seconds until it lets a probe by."""

    def __init__(self, name: str, retry_after: float) -> None:
        super().__init__(f"circuit {name} is open")
        self.retry_after = retry_after


class _SharedRedisRepository(AsyncRedisRepository):
    """purgatory's Redis repository on a client we own, under our key prefix."""

    def __init__(self, redis: Redis, prefix: str) -> None:  # no super(): it dials a URL
        self.redis = redis
        self.messages = []
        self.prefix = prefix


class _RedisUnitOfWork(AsyncRedisUnitOfWork):
    def __init__(self, redis: Redis, prefix: str) -> None:  # no super(): it dials a URL
        self.contexts = _SharedRedisRepository(redis, prefix)


def _not_the_providers_fault(error: ProviderFailure) -> bool:
    return not error.retryable


class Breaker:
    """One named circuit (the provider's) around each attempt."""

    def __init__(
        self,
        name: str,
        *,
        threshold: int = 5,
        cooldown_seconds: float = 30.0,
        redis: Redis | None = None,
        prefix: str = "storefront:llm",
    ) -> None:
        self.name = name
        self._threshold = threshold
        self._cooldown = cooldown_seconds
        uow: AsyncAbstractUnitOfWork = (
            AsyncInMemoryUnitOfWork()
            if redis is None
            else _RedisUnitOfWork(redis, f"{prefix}:breaker:")
        )
        self._factory = AsyncCircuitBreakerFactory(
            default_threshold=threshold,
            default_ttl=cooldown_seconds,
            exclude=[(ProviderFailure, _not_the_providers_fault)],
            uow=uow,
        )
        self._factory.add_listener(self._on_event)
        LLM_CIRCUIT_STATE.labels(name).set(0)

    async def state(self) -> str:
        """`closed`, `half-opened` or `opened`, as the store has it now."""
        return (await self._factory.get_breaker(self.name)).context.state

    async def call(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """`attempt()` if the circuit lets it through (else `CircuitOpen`), its outcome
        recorded."""
        try:
            breaker = await self._factory.get_breaker(self.name)
        except RedisError as error:
            logger.warning("llm circuit state unreadable; attempt unguarded", error=repr(error))
            return await attempt()
        self._seen(breaker.context.state)
        try:
            await breaker.__aenter__()
        except OpenedState as opened:
            wait = max(0.0, opened.opened_at + self._cooldown - time.time())
            raise CircuitOpen(self.name, wait) from None
        try:
            result = await attempt()
        except asyncio.CancelledError:
            raise  # says nothing about the provider: not recorded
        except BaseException as error:
            await self._record(breaker, error)
            raise
        await self._record(breaker, None)
        return result

    async def _record(self, breaker: AsyncCircuitBreaker, error: BaseException | None) -> None:
        try:
            await breaker.__aexit__(type(error) if error else None, error, None)
        except RedisError as failure:
            logger.warning("llm circuit state not saved", error=repr(failure))

    def _seen(self, state: str) -> None:
        LLM_CIRCUIT_STATE.labels(self.name).set(_GAUGE.get(state, 0))

    def _on_event(self, name: str, event_name: str, event: Any) -> None:
        if event_name == "state_changed":
            self._seen(event.state)
            log = logger.info if event.state == "closed" else logger.warning
            log(
                "llm circuit state changed",
                circuit=name,
                state=event.state,
                threshold=self._threshold,
                cooldown_seconds=self._cooldown,
            )
