"""Prometheus metrics: requests per operation, the database pool, the background jobs, the LLM.

With several worker processes each keeps its own values, so `/metrics` on one of them
would show a fraction. prometheus-client's multiprocess mode fixes that: when
`PROMETHEUS_MULTIPROC_DIR` is set (before anything imports the library), every process
writes its values to files there and `/metrics` adds up all processes' files. The directory
is emptied at start, before workers fork (`impl.observability.multiprocess_dir`), and a
worker's gauge files are dropped when it exits (`process_exited`). Gauges say how
processes' values combine (`multiprocess_mode`).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import values as prometheus_values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger("storefront.metrics")

# The background jobs' metrics belong to the process (the jobs run in app and worker
# processes alike; `impl.jobs.middleware.JobTelemetry` counts them); every app's registry
# exposes them too.
JOBS_RUNNING = Gauge(
    "jobs_running", "Jobs being run now.", registry=None, multiprocess_mode="livesum"
)
JOBS_FINISHED = Counter(
    "jobs_finished",
    "Job runs by job and outcome (done, retry, dead).",
    ["job", "outcome"],
    registry=None,
)

# The LLM client's (impl.insights.llm), in whichever process makes summaries.
LLM_ATTEMPTS = Counter(
    "llm_attempts", "Calls made to the LLM provider, by provider.", ["provider"], registry=None
)
LLM_FAILURES = Counter(
    "llm_failures",
    "Failed LLM provider calls by provider and reason (timeout, transport, rate_limited, "
    "server_error, malformed, truncated, rejected, error).",
    ["provider", "reason"],
    registry=None,
)
LLM_UNAVAILABLE = Counter(
    "llm_unavailable",
    "Summaries the provider could not make, by provider and reason (circuit_open, "
    "budget_exhausted, attempts_exhausted, rejected, error).",
    ["provider", "reason"],
    registry=None,
)
LLM_CIRCUIT_STATE = Gauge(
    "llm_circuit_state",
    "The LLM provider's circuit breaker as this process last saw it: 0 closed, 1 half-open, "
    "2 open.",
    ["provider"],
    registry=None,
    multiprocess_mode="mostrecent",
)
LLM_COLLECTORS = (LLM_ATTEMPTS, LLM_FAILURES, LLM_UNAVAILABLE, LLM_CIRCUIT_STATE)


class Metrics:
    """The app's Prometheus registry (one per app, so tests can build several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests",
            "HTTP requests by operation and status.",
            ["operation", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer a request, by operation.",
            ["operation"],
            registry=self.registry,
        )
        self.pool_size = Gauge(
            "db_pool_size",
            "Connections the database pool may hold.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.pool_checked_out = Gauge(
            "db_pool_checked_out",
            "Database connections in use (checked out of the pool).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        for collector in (JOBS_RUNNING, JOBS_FINISHED, *LLM_COLLECTORS):
            self.registry.register(collector)
        # Each label set's series, kept: `labels()` takes a lock and builds its key each time.
        self._counts: dict[tuple[str, str, int], Any] = {}
        self._times: dict[str, Any] = {}

    def count(self, operation: str, method: str, status: int) -> None:
        key = (operation, method, status)
        series = self._counts.get(key)
        if series is None:
            series = self._counts[key] = self.requests.labels(operation, method, str(status))
        series.inc()

    def time(self, operation: str, seconds: float) -> None:
        series = self._times.get(operation)
        if series is None:
            series = self._times[operation] = self.latency.labels(operation)
        series.observe(seconds)

    def watch_pool(self, engine: AsyncEngine) -> None:
        """Keep the pool gauges up to date from the pool's own checkout and checkin events."""
        pool = engine.sync_engine.pool
        size = getattr(pool, "size", None)
        if callable(size):
            self.pool_size.set(size())
        checked_out = self.pool_checked_out

        # An invalidated connection is checked in too, so the two events always pair up.
        @event.listens_for(pool, "checkout")
        def _checkout(*_args: Any) -> None:
            checked_out.inc()

        @event.listens_for(pool, "checkin")
        def _checkin(*_args: Any) -> None:
            checked_out.dec()


def multiprocess_mode() -> bool:
    """Whether prometheus-client writes this process's values to `PROMETHEUS_MULTIPROC_DIR`
    (decided by the library when it was first imported)."""
    return prometheus_values.ValueClass is not prometheus_values.MutexValue


def process_exited(path: str | None) -> None:
    """Drop this process's live gauges from the multiprocess directory (at worker exit)."""
    if path:
        mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]


class Exposition:
    """The text `/metrics` answers: this app's registry, or every process's in `path`."""

    def __init__(self, metrics: Metrics, multiprocess_dir: str | None) -> None:
        self._registry = metrics.registry
        if multiprocess_dir:
            if not multiprocess_mode():
                logger.warning(
                    "PROMETHEUS_MULTIPROC_DIR is set but prometheus-client was imported "
                    "without it: /metrics shows the files of other processes only"
                )
            self._registry = CollectorRegistry()
            MultiProcessCollector(self._registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]

    def render(self) -> str:
        return generate_latest(self._registry).decode()
