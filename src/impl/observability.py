"""Logging with the request id on every line, and Prometheus metrics per operation."""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from generated.runtime import Operation, request_id_var

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (``-`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str) -> None:
    """Root logging to stderr with the request id in every line, uvicorn's loggers included."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # Alembic announces each of its plugins at INFO; the migration lines themselves stay.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


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


access_logger = logging.getLogger("storefront.access")


class ObservabilityMiddleware:
    """Per request: one access log line (with the request id) and the Prometheus metrics."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            operation = scope.get("openapi.operation")
            name = operation.operation_id if isinstance(operation, Operation) else "unmatched"
            elapsed = time.perf_counter() - started
            self.metrics.count(name, scope["method"], status)
            self.metrics.time(name, elapsed)
            access_logger.info(
                "%s %s %d %.1fms %s", scope["method"], scope["path"], status, elapsed * 1000, name
            )
