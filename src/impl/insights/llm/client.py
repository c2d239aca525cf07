"""`LlmClient`: a provider behind retries, a total time budget, a circuit breaker and the
last good summary. `build_llm_client(settings)` makes the one the settings describe.

`await client.summarize(request)` returns a `Summary`, or `Unavailable` (with the last good
summary for the key, to serve marked stale); it never raises for anything the provider
does. How an attempt's failure is handled (impl.insights.llm.provider has the reasons):

- retried (tenacity) with exponential backoff plus random jitter, or after the server's
  `Retry-After` / `retry-after-ms` when it sends one, at most `LLM_MAX_ATTEMPTS` attempts;
- all of it inside `LLM_TIMEOUT_SECONDS`: an attempt gets the time that is left (at most
  `LLM_ATTEMPT_TIMEOUT_SECONDS`), and no wait starts that would end past the budget (a
  `Retry-After` longer than what is left ends the call at once, `budget_exhausted`);
- each attempt passes the breaker (impl.insights.llm.breaker) first: open, the call ends
  at once, `circuit_open`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from impl.insights.llm.breaker import Breaker, CircuitOpen
from impl.insights.llm.last_good import LastGoodStore, MemoryLastGood, RedisLastGood
from impl.insights.llm.local import LocalProvider
from impl.insights.llm.model import (
    Outcome,
    Summary,
    SummaryRequest,
    Unavailable,
    UnavailableReason,
)
from impl.insights.llm.openai_compatible import OpenAICompatibleProvider
from impl.insights.llm.provider import ProviderFailure, SummaryProvider
from impl.observability.metrics import LLM_ATTEMPTS, LLM_FAILURES, LLM_UNAVAILABLE
from impl.settings import Settings

logger = structlog.get_logger("storefront.llm")
# Time kept back from the last attempt for the breaker's bookkeeping (a Redis round trip).
_RESERVE_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 4
    budget_seconds: float = 15.0
    attempt_timeout_seconds: float = 10.0
    # Waits: initial · 2^(n-1), at most `backoff_max_seconds`, plus up to `jitter_seconds`.
    backoff_initial_seconds: float = 0.25
    backoff_max_seconds: float = 4.0
    jitter_seconds: float = 0.25
    # No attempt starts with less than this left of the budget.
    min_attempt_seconds: float = 0.1

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_attempts=settings.llm_max_attempts,
            budget_seconds=settings.llm_timeout_seconds,
            attempt_timeout_seconds=settings.llm_attempt_timeout_seconds,
        )


class _RetryAfterOrBackoff(wait_base):
    """The server's `Retry-After` when the failure carried one, else the backoff."""

    def __init__(self, backoff: wait_base) -> None:
        self._backoff = backoff

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, ProviderFailure) and error.retry_after is not None:
            return error.retry_after
        return float(self._backoff(retry_state))


def _retryable(error: BaseException) -> bool:
    return isinstance(error, ProviderFailure) and error.retryable


class LlmClient:
    def __init__(
        self,
        provider: SummaryProvider,
        *,
        policy: RetryPolicy | None = None,
        breaker: Breaker | None = None,
        last_good: LastGoodStore | None = None,
        redis: Redis | None = None,
    ) -> None:
        self.provider = provider
        self.policy = policy or RetryPolicy()
        self.breaker = breaker
        self.last_good = last_good or MemoryLastGood()
        self._redis = redis  # closed with the client

    async def aclose(self) -> None:
        await self.provider.aclose()
        if self._redis is not None:
            await self._redis.aclose()

    async def summarize(self, request: SummaryRequest, *, key: str | None = None) -> Outcome:
        """A new summary of `request`, or `Unavailable` carrying the last good one for `key`
        (default: the team's id)."""
        key = key or request.team_id
        started = time.monotonic()
        try:
            summary = await self._summarize(request)
        except _Unavailable as failure:
            LLM_UNAVAILABLE.labels(self.provider.name, failure.reason).inc()
            last_good = await self.last_good.get(key)
            logger.warning(
                "llm summary unavailable",
                provider=self.provider.name,
                model=self.provider.model,
                reason=failure.reason,
                detail=failure.detail,
                seconds=round(time.monotonic() - started, 3),
                stale_available=last_good is not None,
            )
            return Unavailable(failure.reason, failure.detail, last_good, failure.retry_after)
        await self.last_good.put(key, summary)
        logger.info(
            "llm summary made",
            provider=summary.provider,
            model=summary.model,
            seconds=round(time.monotonic() - started, 3),
            characters=len(summary.text),
        )
        return summary

    async def _summarize(self, request: SummaryRequest) -> Summary:
        policy = self.policy
        deadline = time.monotonic() + policy.budget_seconds
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=(
                stop_after_attempt(policy.max_attempts)
                | stop_before_delay(policy.budget_seconds - policy.min_attempt_seconds)
            ),
            wait=_RetryAfterOrBackoff(
                wait_exponential_jitter(
                    multiplier=policy.backoff_initial_seconds,
                    max=policy.backoff_max_seconds,
                    jitter=policy.jitter_seconds,
                )
            ),
            before_sleep=self._before_sleep,
        )
        try:
            async with asyncio.timeout(policy.budget_seconds):
                async for attempt in retrying:
                    with attempt:
                        return await self._attempt(request, deadline)
        except RetryError as exhausted:
            error = exhausted.last_attempt.exception()
            retry_after = error.retry_after if isinstance(error, ProviderFailure) else None
            attempts = exhausted.last_attempt.attempt_number
            detail = f"{attempts} attempts; the last: {error}"
            if attempts >= policy.max_attempts:
                raise _Unavailable("attempts_exhausted", detail) from None
            raise _Unavailable("budget_exhausted", detail, retry_after) from None
        except CircuitOpen as opened:
            raise _Unavailable("circuit_open", str(opened), opened.retry_after) from None
        except ProviderFailure as final:
            reason: UnavailableReason = "rejected" if final.reason == "rejected" else "error"
            raise _Unavailable(reason, str(final)) from None
        except TimeoutError:
            raise _Unavailable(
                "budget_exhausted", f"no summary within {policy.budget_seconds} s"
            ) from None
        raise AssertionError("unreachable: tenacity returns or raises")

    async def _attempt(self, request: SummaryRequest, deadline: float) -> Summary:
        provider = self.provider

        async def call() -> Summary:
            # Measured here, after the breaker's Redis round trip.
            left = deadline - time.monotonic() - _RESERVE_SECONDS
            timeout = min(self.policy.attempt_timeout_seconds, left)
            LLM_ATTEMPTS.labels(provider.name).inc()
            try:
                async with asyncio.timeout(timeout):
                    return await provider.summarize(request)
            except TimeoutError:
                raise ProviderFailure("timeout", f"no answer within {timeout:.2f} s") from None
            except ProviderFailure:
                raise
            except Exception as error:
                logger.exception("llm provider raised", provider=provider.name)
                raise ProviderFailure("error", type(error).__name__) from None

        try:
            if self.breaker is None:
                return await call()
            return await self.breaker.call(call)
        except ProviderFailure as failure:
            LLM_FAILURES.labels(provider.name, failure.reason).inc()
            raise

    def _before_sleep(self, retry_state: RetryCallState) -> None:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        reason = error.reason if isinstance(error, ProviderFailure) else type(error).__name__
        logger.info(
            "llm attempt failed; retrying",
            provider=self.provider.name,
            attempt=retry_state.attempt_number,
            reason=reason,
            status=getattr(error, "status", None),
            retry_in=round(retry_state.upcoming_sleep, 3),
        )


class _Unavailable(Exception):
    def __init__(
        self, reason: UnavailableReason, detail: str, retry_after: float | None = None
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.retry_after = retry_after


def build_llm_client(settings: Settings) -> LlmClient:
    """The client `LLM_PROVIDER` names: `local` needs no retries, breaker or network; with
    `REDIS_URL`, the breaker's state and the last good summaries are shared through Redis."""
    redis = (
        Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=1)
        if settings.redis_url
        else None
    )
    last_good: LastGoodStore = (
        MemoryLastGood() if redis is None else RedisLastGood(redis, settings.llm_redis_prefix)
    )
    if settings.llm_provider == "local":
        return LlmClient(LocalProvider(), last_good=last_good, redis=redis)
    assert settings.llm_api_key is not None  # Settings refuses openai without one
    provider = OpenAICompatibleProvider(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key,
        max_tokens=settings.llm_max_tokens,
        timeout_seconds=settings.llm_attempt_timeout_seconds,
    )
    breaker = Breaker(
        provider.name,
        threshold=settings.llm_breaker_threshold,
        cooldown_seconds=settings.llm_breaker_cooldown_seconds,
        redis=redis,
        prefix=settings.llm_redis_prefix,
    )
    return LlmClient(
        provider,
        policy=RetryPolicy.from_settings(settings),
        breaker=breaker,
        last_good=last_good,
        redis=redis,
    )
