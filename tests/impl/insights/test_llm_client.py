"""The client the settings build, the last good summaries (in-process and in Redis), what
the logs never carry (the key, the prompt, the team's data), and failures that are not the
provider's answers: a provider bug, a Redis that hangs."""

from __future__ import annotations

import json
import socket
from dataclasses import replace

import pytest
from pydantic import ValidationError
from redis.asyncio import Redis

from impl.insights.llm import (
    Breaker,
    LlmClient,
    MemoryLastGood,
    OpenAICompatibleProvider,
    RedisLastGood,
    Summary,
    SummaryRequest,
    Unavailable,
    build_llm_client,
)
from impl.insights.llm.openai_compatible import SYSTEM_PROMPT
from impl.settings import Settings
from tests.fakes.llm import API_KEY, OK, TRUNCATED, FakeLlm, status
from tests.impl.insights.conftest import FAST, MakeClient, team_request, timed
from tests.impl.observability.conftest import Configure, lines, log_to  # noqa: F401


def _summary(text: str = "A steady week.") -> Summary:
    return Summary.of(team_request(), text=text, provider="openai", model="m")


async def test_memory_keeps_the_newest_per_key_and_forgets_the_oldest_keys() -> None:
    store = MemoryLastGood(max_entries=2)

    async def text(key: str) -> str | None:
        found = await store.get(key)
        return found.text if found else None

    await store.put("a", _summary("first"))
    await store.put("a", _summary("second"))
    await store.put("b", _summary("b"))
    assert await text("a") == "second"
    await store.put("c", _summary("c"))
    assert (await text("a"), await text("b"), await text("c")) == (None, "b", "c")


async def test_redis_keeps_them_for_every_worker(redis: Redis, redis_prefix: str) -> None:
    writer = RedisLastGood(redis, redis_prefix, ttl_seconds=60)
    reader = RedisLastGood(redis, redis_prefix)
    summary = _summary()
    await writer.put("team_acme", summary)
    assert await reader.get("team_acme") == summary
    assert await reader.get("team_other") is None
    assert 0 < await redis.ttl(f"{redis_prefix}:last-good:team_acme") <= 60
    await redis.set(f"{redis_prefix}:last-good:team_bad", "not a summary")
    assert await reader.get("team_bad") is None


async def test_a_redis_that_is_down_never_fails_the_caller() -> None:
    down = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        store = RedisLastGood(down, "storefront-test-down")
        await store.put("team_acme", _summary())
        assert await store.get("team_acme") is None
    finally:
        await down.aclose()


async def test_the_settings_build_an_openai_client_sharing_through_redis(
    fake: FakeLlm, redis_url: str, redis: Redis, redis_prefix: str
) -> None:
    settings = Settings(
        llm_provider="openai",
        llm_base_url=fake.base_url + "/",
        llm_model="fake-model-2",
        llm_api_key=API_KEY,
        llm_max_attempts=2,
        llm_breaker_threshold=1,
        redis_url=redis_url,
        llm_redis_prefix=redis_prefix,
    )
    client = build_llm_client(settings)
    try:
        assert isinstance(client.provider, OpenAICompatibleProvider)
        assert client.breaker is not None
        good = await client.summarize(team_request())
        assert isinstance(good, Summary)
        assert good.model == "fake-model-2"
        assert fake.completions[-1].body["model"] == "fake-model-2"
        assert await redis.exists(f"{redis_prefix}:last-good:team_acme") == 1
        fake.always(status(500))
        stale = await client.summarize(team_request())
        assert isinstance(stale, Unavailable)
        assert stale.last_good == good
        assert await client.breaker.state() == "opened"
    finally:
        await client.aclose()


async def test_the_key_the_prompt_and_the_data_are_never_logged(
    log_to: Configure,  # noqa: F811
    fake: FakeLlm,
    make_client: MakeClient,
) -> None:
    buffer = log_to("DEBUG")
    client = make_client(policy=replace(FAST, max_attempts=2))
    fake.then(status(429, retry_after="0"), TRUNCATED)
    assert isinstance(await client.summarize(team_request()), Unavailable)
    fake.then(OK)
    assert isinstance(await client.summarize(team_request()), Summary)
    fake.always(status(401))
    assert isinstance(await client.summarize(team_request()), Unavailable)
    written = buffer.getvalue()
    events = [line["event"] for line in lines(buffer) if line.get("logger") == "storefront.llm"]
    assert "llm attempt failed; retrying" in events
    assert "llm summary made" in events
    assert "llm summary unavailable" in events
    for secret in (API_KEY, SYSTEM_PROMPT[:40], "Acme Supplies", "Supplier X raises prices"):
        assert secret not in written, secret
    assert "sk-" not in json.dumps(events)


class _Broken:
    """A provider with a bug: it raises what no provider should."""

    name = "broken"
    model = "none"

    def __init__(self) -> None:
        self.calls = 0

    async def summarize(self, request: SummaryRequest) -> Summary:
        self.calls += 1
        raise KeyError("choices")

    async def aclose(self) -> None:
        return None


async def test_a_provider_bug_is_an_outcome_not_an_exception(
    log_to: Configure,  # noqa: F811
) -> None:
    buffer = log_to("INFO")
    provider = _Broken()
    outcome = await LlmClient(provider, policy=FAST).summarize(team_request())
    assert isinstance(outcome, Unavailable)
    assert (outcome.reason, outcome.detail) == ("error", "error: KeyError")
    assert provider.calls == 1  # not retried
    [raised] = [line for line in lines(buffer) if line["event"] == "llm provider raised"]
    assert "KeyError" in raised["exception"]


async def test_a_hanging_redis_costs_the_budget_and_no_more(
    fake: FakeLlm, make_client: MakeClient
) -> None:
    # Accepts connections (the kernel's backlog does) and never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        hanging = Redis.from_url(f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        try:
            breaker = Breaker("openai", redis=hanging, prefix="storefront-test-hanging")
            client = make_client(policy=replace(FAST, budget_seconds=0.5), breaker=breaker)
            outcome, elapsed = await timed(client.summarize(team_request()))
        finally:
            await hanging.aclose()
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "budget_exhausted"
    assert elapsed < 2
    assert fake.completions == []


def test_a_period_runs_forward() -> None:
    with pytest.raises(ValidationError, match="period_end must be after period_start"):
        team_request(period_end=team_request().period_start)
