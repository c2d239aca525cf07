"""`LLM_PROVIDER=local` (the default): a summary written from the numbers, with no network.

Deterministic (the same request gives the same text), so `just serve` works offline and
tests can compare texts. Sentences, in order: the period and its revenue by currency,
orders by status, the top sellers, what is low on stock, new members, the newest headlines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from impl.insights.llm.model import Money, NewsItem, Summary, SummaryRequest

TOP_PRODUCTS = 3
LOW_STOCK_ITEMS = 5
HEADLINES = 3
_CENT = Decimal("0.01")


class LocalProvider:
    """Writes the summary itself; never fails."""

    name = "local"
    model = "storefront-local-1"

    async def summarize(self, request: SummaryRequest) -> Summary:
        return Summary.of(
            request, text=write_summary(request), provider=self.name, model=self.model
        )

    async def aclose(self) -> None:
        return None


def write_summary(request: SummaryRequest) -> str:
    """The local provider's text for `request` (a pure function of it)."""
    sentences = [
        f"{request.team_name}, {_period(request.period_start, request.period_end)}: "
        f"{_revenue(request.revenue)}.",
        _orders(request.orders_by_status),
        _top_products(request),
        _low_stock(request),
        _members(request.new_members),
        _news(request.news),
    ]
    return " ".join(sentence for sentence in sentences if sentence)


def _period(start: datetime, end: datetime) -> str:
    # The period ends just before `end`: a week from Monday 00:00 to the next Monday 00:00
    # is "1 Dec 2026 to 7 Dec 2026".
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    if first == last:
        return f"on {_day(first, year=True)}"
    return f"{_day(first, year=first.year != last.year)} to {_day(last, year=True)}"


def _day(day: date, *, year: bool) -> str:
    return f"{day.day} {day:%b}" + (f" {day.year}" if year else "")


def _revenue(revenue: Sequence[Money]) -> str:
    totals: dict[str, Decimal] = {}
    for money in revenue:
        totals[money.currency] = totals.get(money.currency, Decimal(0)) + money.amount
    shown = [f"{code} {amount.quantize(_CENT):,}" for code, amount in sorted(totals.items())]
    return f"revenue was {_join(shown)}" if shown else "no revenue"


def _orders(by_status: dict[str, int]) -> str:
    counts = sorted(
        ((status, count) for status, count in by_status.items() if count > 0),
        key=lambda item: (-item[1], item[0]),
    )
    total = sum(count for _, count in counts)
    if not total:
        return "No orders were placed."
    parts = _join([f"{count} {status}" for status, count in counts])
    return f"{_count(total, 'order')}: {parts}."


def _top_products(request: SummaryRequest) -> str:
    top = [p for p in request.top_products if p.units_sold > 0][:TOP_PRODUCTS]
    if not top:
        return ""
    label = "Top seller" if len(top) == 1 else "Top sellers"
    return f"{label}: {_join([f'{p.name} ({p.units_sold} sold)' for p in top])}."


def _low_stock(request: SummaryRequest) -> str:
    low = sorted(request.low_stock, key=lambda item: (item.on_hand, item.name))
    if not low:
        return "Nothing is running low on stock."
    shown = [
        f"{item.name} ({'out of stock' if item.on_hand <= 0 else f'{item.on_hand} left'})"
        for item in low[:LOW_STOCK_ITEMS]
    ]
    more = len(low) - LOW_STOCK_ITEMS
    if more > 0:
        shown.append(_count(more, "other product"))
    return f"Running low: {_join(shown)}."


def _members(new_members: int) -> str:
    if not new_members:
        return "No new members joined."
    return f"{_count(new_members, 'new member')} joined."


def _news(news: Sequence[NewsItem]) -> str:
    newest = sorted(news, key=lambda item: (item.published_at, item.title), reverse=True)
    if not newest:
        return "No news."
    shown = [
        f"“{_clip(item.title)}” ({item.source}, {_day(item.published_at, year=False)})"
        for item in newest[:HEADLINES]
    ]
    label = "Headline" if len(shown) == 1 else "Headlines"
    return f"{label}: {_join(shown)}."


def _clip(title: str, limit: int = 120) -> str:
    title = " ".join(title.split())
    return title if len(title) <= limit else title[: limit - 1].rstrip() + "…"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} and {parts[-1]}"
