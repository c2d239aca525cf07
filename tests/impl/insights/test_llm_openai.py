"""The OpenAI-compatible provider behind the client's retries and budget, over real HTTP to
the fake (tests/fakes/llm.py). Timings are asserted loosely: the machine is shared."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from impl.insights.llm import RetryPolicy, Summary, Unavailable
from impl.insights.llm.openai_compatible import SYSTEM_PROMPT, retry_after_seconds
from tests.fakes.llm import (
    API_KEY,
    EMPTY,
    MALFORMED,
    NOT_A_COMPLETION,
    OK,
    TRUNCATED,
    FakeLlm,
    Fault,
    slow,
    status,
)
from tests.impl.insights.conftest import FAST, MODEL, MakeClient, Sample, team_request, timed


async def test_a_summary_from_the_provider(fake: FakeLlm, make_client: MakeClient) -> None:
    fake.reply = "  Acme had a good week; restock Green Tea.  "
    summary = await make_client().summarize(team_request())
    assert isinstance(summary, Summary)
    assert summary.text == "Acme had a good week; restock Green Tea."
    assert (summary.provider, summary.model, summary.team_id) == ("openai", MODEL, "team_acme")
    [sent] = fake.completions
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body["model"] == MODEL
    system, user = sent.body["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user"
    data = json.loads(user["content"])
    assert data["team_name"] == "Acme Supplies"
    assert data["orders_by_status"]["paid"] == 30
    assert [item["title"] for item in data["news"]] == [
        "Order 42 was refunded",
        "Supplier X raises prices",
    ]
    assert "team_id" not in data


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (status(500), "server_error"),
        (status(502), "server_error"),
        (status(503, retry_after="0"), "server_error"),
        (status(408), "timeout"),
        (status(429), "rate_limited"),
        (TRUNCATED, "truncated"),
        (MALFORMED, "malformed"),
        (NOT_A_COMPLETION, "malformed"),
        (EMPTY, "malformed"),
        (slow(3), "timeout"),
    ],
    ids=lambda value: value.kind + str(value.status) if isinstance(value, Fault) else value,
)
async def test_a_failed_attempt_is_retried(
    fake: FakeLlm, make_client: MakeClient, metric: Sample, fault: Fault, reason: str
) -> None:
    fake.then(fault)
    before = metric("llm_failures_total", provider="openai", reason=reason)
    attempts = metric("llm_attempts_total", provider="openai")
    # Past the slow answer's 3 s (the others answer at once).
    client = make_client(policy=replace(FAST, attempt_timeout_seconds=1.5))
    summary = await client.summarize(team_request())
    assert isinstance(summary, Summary), summary
    assert len(fake.completions) == 2
    assert metric("llm_failures_total", provider="openai", reason=reason) == before + 1
    assert metric("llm_attempts_total", provider="openai") == attempts + 2


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422])
async def test_a_refused_request_is_not_retried(
    fake: FakeLlm, make_client: MakeClient, metric: Sample, code: int
) -> None:
    fake.always(status(code))
    before = metric("llm_unavailable_total", provider="openai", reason="rejected")
    outcome = await make_client().summarize(team_request())
    assert isinstance(outcome, Unavailable)
    assert (outcome.reason, outcome.last_good) == ("rejected", None)
    assert str(code) in outcome.detail
    assert len(fake.completions) == 1
    assert metric("llm_unavailable_total", provider="openai", reason="rejected") == before + 1


async def test_a_wrong_key_is_refused_once(fake: FakeLlm, make_client: MakeClient) -> None:
    wrong = "sk-wrong"  # pragma: allowlist secret
    outcome = await make_client(api_key=wrong).summarize(team_request())
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "rejected"
    assert len(fake.completions) == 1


async def test_retry_after_seconds_is_honoured(fake: FakeLlm, make_client: MakeClient) -> None:
    fake.then(status(429, retry_after="1"))
    summary, elapsed = await timed(make_client().summarize(team_request()))
    assert isinstance(summary, Summary)
    first, second = fake.completions
    assert second.at - first.at >= 0.9  # the backoff alone would be ~0.02 s
    assert elapsed < 4


async def test_retry_after_as_an_http_date_is_honoured(
    fake: FakeLlm, make_client: MakeClient
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    fake.then(status(503, retry_after=when))
    summary = await make_client().summarize(team_request())
    assert isinstance(summary, Summary)
    first, second = fake.completions
    assert second.at - first.at >= 0.8  # the date has whole seconds: 1 to 2 s from now


async def test_a_retry_after_past_the_budget_ends_the_call_at_once(
    fake: FakeLlm, make_client: MakeClient
) -> None:
    fake.always(status(429, retry_after="30"))
    outcome, elapsed = await timed(
        make_client(policy=replace(FAST, budget_seconds=3)).summarize(team_request())
    )
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "budget_exhausted"
    assert outcome.retry_after == 30
    assert len(fake.completions) == 1
    assert elapsed < 2  # no waiting for a retry that could not happen in time


async def test_the_budget_bounds_a_slow_provider(fake: FakeLlm, make_client: MakeClient) -> None:
    fake.always(slow(10))
    policy = replace(FAST, budget_seconds=1.0, attempt_timeout_seconds=10)
    outcome, elapsed = await timed(make_client(policy=policy).summarize(team_request()))
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "budget_exhausted"
    assert "timeout" in outcome.detail
    assert 0.9 <= elapsed < 2.5


async def test_slow_attempts_are_retried_within_the_budget(
    fake: FakeLlm, make_client: MakeClient
) -> None:
    fake.always(slow(10))
    policy = replace(FAST, budget_seconds=1.5, attempt_timeout_seconds=0.3, max_attempts=10)
    outcome, elapsed = await timed(make_client(policy=policy).summarize(team_request()))
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "budget_exhausted"
    assert len(fake.completions) >= 3  # ~0.3 s each
    assert elapsed < 3


async def test_attempts_run_out(fake: FakeLlm, make_client: MakeClient) -> None:
    fake.always(status(500))
    policy = replace(FAST, max_attempts=3)
    outcome = await make_client(policy=policy).summarize(team_request())
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "attempts_exhausted"
    assert "3 attempts" in outcome.detail
    assert len(fake.completions) == 3


async def test_a_provider_that_is_down(fake: FakeLlm, make_client: MakeClient) -> None:
    client = make_client(policy=replace(FAST, max_attempts=2))
    fake.go_down()
    outcome = await client.summarize(team_request())
    assert isinstance(outcome, Unavailable)
    assert outcome.reason == "attempts_exhausted"
    assert "transport" in outcome.detail


async def test_the_last_good_summary_comes_back_when_unavailable(
    fake: FakeLlm, make_client: MakeClient
) -> None:
    client = make_client(policy=replace(FAST, max_attempts=2))
    good = await client.summarize(team_request())
    assert isinstance(good, Summary)
    fake.always(status(500))
    outcome = await client.summarize(team_request())
    assert isinstance(outcome, Unavailable)
    assert outcome.last_good == good
    # Another team has none; a key of the caller's choosing is kept apart.
    other = await client.summarize(team_request(team_id="team_other"))
    assert isinstance(other, Unavailable)
    assert other.last_good is None
    fake.always(OK)
    weekly = await client.summarize(team_request(), key="team_acme:week")
    assert isinstance(weekly, Summary)
    fake.always(status(500))
    stale = await client.summarize(team_request(), key="team_acme:week")
    assert isinstance(stale, Unavailable)
    assert stale.last_good == weekly


async def test_random_failures_are_absorbed(fake: FakeLlm, make_client: MakeClient) -> None:
    fake.failure_rate = 0.3
    client = make_client(policy=replace(FAST, max_attempts=6))
    outcomes = [await client.summarize(team_request()) for _ in range(10)]
    assert all(isinstance(outcome, Summary) for outcome in outcomes)
    assert len(fake.completions) > 10  # some failed, and were retried


async def test_the_fake_is_steered_over_http(fake: FakeLlm) -> None:
    async with httpx.AsyncClient(base_url=fake.base_url.removesuffix("/v1")) as http:
        change = {"latency": 0.3, "failure_rate": 0.1, "then": [{"kind": "status", "status": 503}]}
        answer = (await http.post("/_fake", json=change)).json()
    assert (answer["latency"], answer["failure_rate"], answer["requests"]) == (0.3, 0.1, 0)
    assert fake.next_fault() == status(503)


def test_retry_after_values() -> None:
    now = datetime(2026, 12, 5, 12, 0, 0, tzinfo=UTC)

    def wait(**headers: str) -> float | None:
        return retry_after_seconds(httpx.Headers(headers), now)

    assert wait(**{"retry-after": "7"}) == 7
    assert wait(**{"retry-after": " 0 "}) == 0
    assert wait(**{"retry-after": "Sat, 05 Dec 2026 12:00:30 GMT"}) == 30
    assert wait(**{"retry-after": "Sat, 05 Dec 2026 11:00:00 GMT"}) == 0  # already past
    assert wait(**{"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert wait(**{"retry-after-ms": "soon", "retry-after": "9"}) == 9
    for unreadable in ("-1", "1.5", "soon", "", "Sat, 99 Foo 2026"):
        assert wait(**{"retry-after": unreadable}) is None, unreadable
    assert wait() is None


def test_the_policy_follows_the_settings() -> None:
    from impl.settings import Settings

    settings = Settings(llm_timeout_seconds=7, llm_attempt_timeout_seconds=2, llm_max_attempts=3)
    policy = RetryPolicy.from_settings(settings)
    assert (policy.budget_seconds, policy.attempt_timeout_seconds, policy.max_attempts) == (7, 2, 3)
