"""What a summary is made from, what it is, and what the caller gets when none can be made.

The request is the team's numbers and news as typed data (whoever gathers them, the
dashboard's queries and the news feed, maps them into it). News titles come from feeds the
team follows: they are data for the provider, never instructions (see `prompt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from impl.kit.clock import utcnow

_Frozen = ConfigDict(frozen=True, extra="forbid")
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Money(BaseModel):
    model_config = _Frozen

    currency: Currency
    amount: Decimal


class ProductSales(BaseModel):
    model_config = _Frozen

    name: Name
    sku: str | None = None
    units_sold: int = Field(ge=0)


class LowStock(BaseModel):
    model_config = _Frozen

    name: Name
    sku: str | None = None
    on_hand: int


class NewsItem(BaseModel):
    model_config = _Frozen

    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    source: Name  # the feed's title, or "activity" for the team's own events
    published_at: AwareDatetime
    link: str | None = None


class SummaryRequest(BaseModel):
    """A team's period [period_start, period_end): its numbers and what it should read."""

    model_config = _Frozen

    team_id: str = Field(min_length=1)
    team_name: Name
    period_start: AwareDatetime
    period_end: AwareDatetime
    revenue: tuple[Money, ...] = ()  # one total per currency
    orders_by_status: dict[str, int] = Field(default_factory=dict)
    top_products: tuple[ProductSales, ...] = ()  # best first
    low_stock: tuple[LowStock, ...] = ()
    new_members: int = Field(default=0, ge=0)
    news: tuple[NewsItem, ...] = ()  # newest first

    @model_validator(mode="after")
    def _period_is_forward(self) -> SummaryRequest:
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        return self


class Summary(BaseModel):
    """A written summary, and who wrote it: the provider (`local`, `openai`) and its model."""

    model_config = _Frozen

    text: str = Field(min_length=1)
    provider: str
    model: str
    team_id: str
    period_start: AwareDatetime
    period_end: AwareDatetime
    created_at: AwareDatetime

    @classmethod
    def of(cls, request: SummaryRequest, *, text: str, provider: str, model: str) -> Summary:
        """A summary of `request`'s team and period, made now."""
        return cls(
            text=text,
            provider=provider,
            model=model,
            team_id=request.team_id,
            period_start=request.period_start,
            period_end=request.period_end,
            created_at=utcnow(),
        )


UnavailableReason = Literal[
    "circuit_open",  # the breaker is open: the provider failed repeatedly, lately
    "budget_exhausted",  # LLM_TIMEOUT_SECONDS ran out (or a Retry-After would overrun it)
    "attempts_exhausted",  # LLM_MAX_ATTEMPTS attempts, all failed
    "rejected",  # the provider refused the request (a 4xx other than 408/429): not retried
    "error",  # the provider implementation raised something unexpected (logged)
]


@dataclass(frozen=True, slots=True)
class Unavailable:
    """No summary could be made now. `last_good` is the newest one made for the same key
    (serve it marked stale), or None; `retry_after` says when trying again may help."""

    reason: UnavailableReason
    detail: str
    last_good: Summary | None = None
    retry_after: float | None = None


Outcome = Summary | Unavailable
