"""`LLM_PROVIDER=local`: deterministic, offline, and readable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from impl.insights.llm import LocalProvider, LowStock, Summary, build_llm_client, write_summary
from impl.settings import Settings
from tests.impl.insights.conftest import team_request

ACME_WEEK = (
    "Acme Supplies, 1 Dec to 7 Dec 2026: revenue was EUR 1,244.50 and USD 99.00. "
    "42 orders: 30 paid, 8 fulfilled and 4 cancelled. "
    "Top sellers: Blue Mug (12 sold), Red Pen (9 sold) and Notebook (7 sold). "
    "Running low: Green Tea (out of stock) and Blue Mug (3 left). "
    "2 new members joined. "
    "Headlines: “Supplier X raises prices” (Supplier X, 5 Dec) and "
    "“Order 42 was refunded” (activity, 4 Dec)."
)


def test_a_week_in_sentences() -> None:
    assert write_summary(team_request()) == ACME_WEEK


def test_a_quiet_day_says_so() -> None:
    quiet = team_request(
        period_start=datetime(2026, 12, 5, tzinfo=UTC),
        period_end=datetime(2026, 12, 6, tzinfo=UTC),
        revenue=(),
        orders_by_status={},
        top_products=(),
        low_stock=(),
        new_members=1,
        news=(),
    )
    assert write_summary(quiet) == (
        "Acme Supplies, on 5 Dec 2026: no revenue. No orders were placed. "
        "Nothing is running low on stock. 1 new member joined. No news."
    )


def test_long_lists_are_cut_and_counted() -> None:
    many = team_request(
        low_stock=tuple(LowStock(name=f"Item {n}", on_hand=n) for n in range(8)),
        orders_by_status={"paid": 1},
    )
    text = write_summary(many)
    assert "1 order: 1 paid." in text
    assert (
        "Running low: Item 0 (out of stock), Item 1 (1 left), Item 2 (2 left), "
        "Item 3 (3 left), Item 4 (4 left) and 3 other products." in text
    )


async def test_the_provider_is_deterministic_and_names_itself() -> None:
    provider = LocalProvider()
    first = await provider.summarize(team_request())
    again = await provider.summarize(team_request())
    assert isinstance(first, Summary)
    assert first.text == again.text == ACME_WEEK
    assert (first.provider, first.model, first.team_id) == (
        "local",
        "storefront-local-1",
        "team_acme",
    )
    assert first.period_start == team_request().period_start


async def test_the_default_settings_summarize_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLM_PROVIDER", "REDIS_URL", "LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    client = build_llm_client(Settings())
    try:
        assert client.provider.name == "local"
        assert client.breaker is None
        summary = await client.summarize(team_request())
        assert isinstance(summary, Summary)
        assert summary.text == ACME_WEEK
        assert await client.last_good.get("team_acme") == summary
    finally:
        await client.aclose()
