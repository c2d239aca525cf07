"""The LLM client: team summaries from a configurable provider (docs/insights.md).

client = build_llm_client(settings)
match await client.summarize(request):
    case Summary() as summary: ...  # new
    case Unavailable(last_good=Summary() as stale): ...  # serve it, marked stale
    case Unavailable(reason=reason): ...  # nothing to serve yet
await client.aclose()
"""

from impl.insights.llm.breaker import Breaker, CircuitOpen
from impl.insights.llm.client import LlmClient, RetryPolicy, build_llm_client
from impl.insights.llm.last_good import LastGoodStore, MemoryLastGood, RedisLastGood
from impl.insights.llm.local import LocalProvider, write_summary
from impl.insights.llm.model import (
    LowStock,
    Money,
    NewsItem,
    Outcome,
    ProductSales,
    Summary,
    SummaryRequest,
    Unavailable,
    UnavailableReason,
)
from impl.insights.llm.openai_compatible import OpenAICompatibleProvider
from impl.insights.llm.provider import FailureReason, ProviderFailure, SummaryProvider

__all__ = [
    "Breaker",
    "CircuitOpen",
    "FailureReason",
    "LastGoodStore",
    "LlmClient",
    "LocalProvider",
    "LowStock",
    "MemoryLastGood",
    "Money",
    "NewsItem",
    "OpenAICompatibleProvider",
    "Outcome",
    "ProductSales",
    "ProviderFailure",
    "RedisLastGood",
    "RetryPolicy",
    "Summary",
    "SummaryProvider",
    "SummaryRequest",
    "Unavailable",
    "UnavailableReason",
    "build_llm_client",
    "write_summary",
]
