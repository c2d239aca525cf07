"""The circuit breaker around provider attempts: in-process, and shared through real Redis
(two clients as two workers would have). Cool-downs are short and waited on loosely."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from impl.insights.llm import Breaker, Summary, Unavailable
from tests.fakes.llm import OK, FakeLlm, status
from tests.impl.insights.conftest import FAST, MakeClient, Sample, team_request, timed

ONE_ATTEMPT = replace(FAST, max_attempts=1)
# Long enough that a busy machine does not let it pass between two calls of a test.
COOLDOWN = 1.0

MakeBreaker = Callable[..., Breaker]


@pytest.fixture
async def shared_breakers(redis_url: str, redis_prefix: str) -> AsyncIterator[MakeBreaker]:
    """Breakers on the test's Redis prefix, each with a Redis client of its own."""
    clients: list[Redis] = []

    def make(*, threshold: int = 2) -> Breaker:
        client = Redis.from_url(redis_url)
        clients.append(client)
        return Breaker(
            "openai",
            threshold=threshold,
            cooldown_seconds=COOLDOWN,
            redis=client,
            prefix=redis_prefix,
        )

    try:
        yield make
    finally:
        for client in clients:
            await client.aclose()


async def test_opens_after_consecutive_failures_then_probes_and_closes(
    fake: FakeLlm, make_client: MakeClient, metric: Sample
) -> None:
    breaker = Breaker("openai", threshold=3, cooldown_seconds=COOLDOWN)
    client = make_client(policy=ONE_ATTEMPT, breaker=breaker)
    fake.always(status(500))
    for _ in range(2):
        assert isinstance(await client.summarize(team_request()), Unavailable)
    assert await breaker.state() == "closed"
    assert metric("llm_circuit_state", provider="openai") == 0
    await client.summarize(team_request())  # the third in a row
    assert await breaker.state() == "opened"
    assert metric("llm_circuit_state", provider="openai") == 2

    # Open: refused at once, without a request to the provider.
    sent = len(fake.completions)
    outcome, elapsed = await timed(client.summarize(team_request()))
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "circuit_open"
    assert outcome.retry_after is not None
    assert 0 < outcome.retry_after <= COOLDOWN
    assert len(fake.completions) == sent
    assert elapsed < COOLDOWN / 2

    # After the cool-down one probe goes through; its success closes the circuit.
    fake.always(OK)
    await asyncio.sleep(COOLDOWN + 0.1)
    assert isinstance(await client.summarize(team_request()), Summary)
    assert len(fake.completions) == sent + 1
    assert await breaker.state() == "closed"
    assert metric("llm_circuit_state", provider="openai") == 0


async def test_a_failed_probe_opens_it_again(fake: FakeLlm, make_client: MakeClient) -> None:
    breaker = Breaker("openai", threshold=1, cooldown_seconds=COOLDOWN)
    client = make_client(policy=ONE_ATTEMPT, breaker=breaker)
    fake.always(status(503))
    await client.summarize(team_request())
    assert await breaker.state() == "opened"
    await asyncio.sleep(COOLDOWN + 0.1)
    probe = await client.summarize(team_request())
    assert isinstance(probe, Unavailable)
    assert probe.reason == "attempts_exhausted"  # it was tried, and failed
    assert await breaker.state() == "opened"
    refused = await client.summarize(team_request())
    assert isinstance(refused, Unavailable)
    assert refused.reason == "circuit_open"


async def test_a_success_resets_the_count(fake: FakeLlm, make_client: MakeClient) -> None:
    breaker = Breaker("openai", threshold=2, cooldown_seconds=COOLDOWN)
    client = make_client(policy=ONE_ATTEMPT, breaker=breaker)
    for fault in (status(500), OK, status(500), OK, status(500)):
        fake.then(fault)
        await client.summarize(team_request())
    assert await breaker.state() == "closed"  # never two failures in a row


async def test_refusals_do_not_count_against_the_provider(
    fake: FakeLlm, make_client: MakeClient
) -> None:
    breaker = Breaker("openai", threshold=1, cooldown_seconds=COOLDOWN)
    client = make_client(policy=ONE_ATTEMPT, breaker=breaker)
    fake.always(status(400))
    for _ in range(3):
        outcome = await client.summarize(team_request())
        assert isinstance(outcome, Unavailable)
        assert outcome.reason == "rejected"
    assert await breaker.state() == "closed"


async def test_retries_stop_when_the_circuit_opens(fake: FakeLlm, make_client: MakeClient) -> None:
    breaker = Breaker("openai", threshold=2, cooldown_seconds=30)
    client = make_client(policy=replace(FAST, max_attempts=10), breaker=breaker)
    fake.always(status(500))
    outcome = await client.summarize(team_request())
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "circuit_open"
    assert len(fake.completions) == 2


async def test_one_worker_trips_it_and_another_sees_it_open(
    fake: FakeLlm,
    make_client: MakeClient,
    shared_breakers: MakeBreaker,
    redis: Redis,
    redis_prefix: str,
) -> None:
    first, second = shared_breakers(), shared_breakers()
    tripping = make_client(policy=ONE_ATTEMPT, breaker=first)
    other = make_client(policy=ONE_ATTEMPT, breaker=second)
    fake.always(status(500))
    for _ in range(2):
        await tripping.summarize(team_request())
    assert await first.state() == await second.state() == "opened"
    assert await redis.exists(f"{redis_prefix}:breaker:openai") == 1

    sent = len(fake.completions)
    outcome = await other.summarize(team_request())
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "circuit_open"
    assert len(fake.completions) == sent  # the second worker never called

    # The other worker's probe, after the cool-down, closes it for both.
    fake.always(OK)
    await asyncio.sleep(COOLDOWN + 0.1)
    assert isinstance(await other.summarize(team_request()), Summary)
    assert await first.state() == "closed"
    assert isinstance(await tripping.summarize(team_request()), Summary)


async def test_failures_add_up_across_workers(
    fake: FakeLlm, make_client: MakeClient, shared_breakers: MakeBreaker
) -> None:
    first, second = shared_breakers(threshold=3), shared_breakers(threshold=3)
    a = make_client(policy=ONE_ATTEMPT, breaker=first)
    b = make_client(policy=ONE_ATTEMPT, breaker=second)
    fake.always(status(500))
    await a.summarize(team_request())
    await b.summarize(team_request())
    assert await first.state() == "closed"
    await a.summarize(team_request())  # the third failure, counted in Redis
    assert await second.state() == "opened"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_redis_leaves_attempts_unguarded(
    fake: FakeLlm, make_client: MakeClient
) -> None:
    down = Redis.from_url(f"redis://127.0.0.1:{_free_port()}/0", socket_connect_timeout=0.5)
    try:
        breaker = Breaker("openai", threshold=1, redis=down, prefix="storefront-test-down")
        client = make_client(policy=ONE_ATTEMPT, breaker=breaker)
        summary, elapsed = await timed(client.summarize(team_request()))
        assert isinstance(summary, Summary)
        fake.always(status(500))
        failed = await client.summarize(team_request())
        assert isinstance(failed, Unavailable)
        assert failed.reason == "attempts_exhausted"  # not circuit_open: nothing was recorded
        assert elapsed < 3
    finally:
        await down.aclose()
