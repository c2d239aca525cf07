"""The provider interface: one attempt at a summary, which succeeds or raises `ProviderFailure`.

Providers know nothing of retries, budgets or the breaker: `LlmClient` (impl.insights.llm.
client) wraps them. A failure's reason decides what happens next:

| reason | what happened | retried | counts against the breaker |
|---|---|---|---|
| `timeout` | no answer in time (or a 408) | yes | yes |
| `transport` | connection refused or reset, TLS, DNS | yes | yes |
| `rate_limited` | 429 (its `Retry-After` honoured) | yes | yes |
| `server_error` | 5xx (a `Retry-After` honoured) | yes | yes |
| `malformed` | a 200 whose body is not a chat completion with text | yes | yes |
| `truncated` | the connection closed before the whole body came | yes | yes |
| `rejected` | any other status: the request itself is refused | no | no |
| `error` | the provider raised something unexpected (a bug, logged) | no | no |
"""

from __future__ import annotations

from typing import Literal, Protocol

from impl.insights.llm.model import Summary, SummaryRequest

FailureReason = Literal[
    "timeout", "transport", "rate_limited", "server_error", "malformed", "truncated",
    "rejected", "error",
]  # fmt: skip
_FINAL: frozenset[FailureReason] = frozenset({"rejected", "error"})


class ProviderFailure(Exception):
    """One attempt failed. `detail` is safe to log: it never holds the key or the prompt."""

    def __init__(
        self,
        reason: FailureReason,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: FailureReason = reason
        self.detail = detail
        self.status = status
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Worth another attempt (within the budget); a final one is neither retried nor
        counted against the provider's health."""
        return self.reason not in _FINAL


class SummaryProvider(Protocol):
    """Writes a summary of a team's period. `name` labels metrics, logs and the breaker."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    async def summarize(self, request: SummaryRequest) -> Summary:
        """One attempt: a `Summary`, or `ProviderFailure`."""
        ...

    async def aclose(self) -> None: ...
