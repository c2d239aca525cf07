"""The LLM client's tests: a fake OpenAI-compatible server on loopback, requests to it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from impl.insights.llm import (
    Breaker,
    LlmClient,
    LowStock,
    Money,
    NewsItem,
    OpenAICompatibleProvider,
    ProductSales,
    RetryPolicy,
    SummaryRequest,
)
from impl.observability.metrics import Metrics
from tests.fakes.llm import API_KEY, FakeLlm, serve_llm

MODEL = "fake-model-1"
# Waits short enough for a test, long enough to be told apart from none.
FAST = RetryPolicy(
    max_attempts=4,
    budget_seconds=5.0,
    attempt_timeout_seconds=2.0,
    backoff_initial_seconds=0.01,
    backoff_max_seconds=0.05,
    jitter_seconds=0.01,
)


def team_request(**changes: Any) -> SummaryRequest:
    """Acme Supplies' first week of December 2026, with something in every section."""
    fields: dict[str, Any] = {
        "team_id": "team_acme",
        "team_name": "Acme Supplies",
        "period_start": datetime(2026, 12, 1, tzinfo=UTC),
        "period_end": datetime(2026, 12, 8, tzinfo=UTC),
        "revenue": (
            Money(currency="USD", amount=Decimal("99")),
            Money(currency="EUR", amount=Decimal("1234.5")),
            Money(currency="EUR", amount=Decimal("10.00")),
        ),
        "orders_by_status": {"paid": 30, "cancelled": 4, "fulfilled": 8, "refunded": 0},
        "top_products": (
            ProductSales(name="Blue Mug", sku="MUG-1", units_sold=12),
            ProductSales(name="Red Pen", units_sold=9),
            ProductSales(name="Notebook", units_sold=7),
            ProductSales(name="Eraser", units_sold=1),
        ),
        "low_stock": (
            LowStock(name="Blue Mug", sku="MUG-1", on_hand=3),
            LowStock(name="Green Tea", on_hand=0),
        ),
        "new_members": 2,
        "news": (
            NewsItem(
                title="Order 42 was refunded",
                source="activity",
                published_at=datetime(2026, 12, 4, 9, tzinfo=UTC),
            ),
            NewsItem(
                title="Supplier X raises prices",
                source="Supplier X",
                published_at=datetime(2026, 12, 5, 16, tzinfo=UTC),
                link="https://supplier-x.example/news/1",
            ),
        ),
    }
    return SummaryRequest(**{**fields, **changes})


@pytest.fixture
def fake() -> Iterator[FakeLlm]:
    with serve_llm() as fake:
        yield fake


MakeClient = Callable[..., LlmClient]


@pytest.fixture
async def make_client(fake: FakeLlm) -> AsyncIterator[MakeClient]:
    """`make_client(policy=..., breaker=..., base_url=..., api_key=...)`: a client of the
    fake, closed after the test."""
    made: list[LlmClient] = []

    def make(
        *,
        policy: RetryPolicy = FAST,
        breaker: Breaker | None = None,
        base_url: str | None = None,
        api_key: str = API_KEY,
        **options: Any,
    ) -> LlmClient:
        provider = OpenAICompatibleProvider(
            base_url=base_url or fake.base_url,
            model=MODEL,
            api_key=SecretStr(api_key),
            timeout_seconds=policy.attempt_timeout_seconds,
        )
        client = LlmClient(provider, policy=policy, breaker=breaker, **options)
        made.append(client)
        return client

    try:
        yield make
    finally:
        for client in made:
            await client.aclose()


Sample = Callable[..., float]


@pytest.fixture
def metric() -> Sample:
    """`metric(name, **labels)`: a sample of the process's LLM metrics now (0 if none)."""
    registry = Metrics().registry

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    return sample


async def timed(call: Awaitable[Any]) -> tuple[Any, float]:
    """`call`'s result and how long it took, in seconds."""
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started
