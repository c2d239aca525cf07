"""Per request: the log fields, one access line, the Prometheus metrics and, if on, a span."""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impl.observability.logs import RequestFields, request_fields
from impl.observability.metrics import Metrics
from impl.observability.tracing import Tracing
from specfirst import Operation, request_id_var

access_logger = structlog.get_logger("storefront.access")


class ObservabilityMiddleware:
    """Sits inside the runtime's request-id middleware, so the request id is known here."""

    def __init__(self, app: ASGIApp, metrics: Metrics, tracing: Tracing | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        sent = 0
        fields = RequestFields(request_id_var.get(), scope)
        token = request_fields.set(fields)
        traced = None if self.tracing is None else self.tracing.start_request(scope)
        if traced is not None:
            fields.trace_id = traced.trace_id()

        async def record(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, record)
        except BaseException:
            failed = True
            raise
        finally:
            operation = scope.get("openapi.operation")
            if not isinstance(operation, Operation):
                operation = None
            name = "unmatched" if operation is None else operation.operation_id
            elapsed = time.perf_counter() - started
            self.metrics.count(name, scope["method"], status)
            self.metrics.time(name, elapsed)
            access_logger.info(
                "request",
                operation=name,
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(elapsed * 1000, 3),
                bytes=sent,
            )
            if traced is not None:
                assert self.tracing is not None
                self.tracing.end_request(traced, operation, status, fields.request_id)
            # Left set on an error: the runtime logs it next, and its line should carry the
            # operation, the caller and the trace id too (see `add_request_fields`).
            if not failed:
                request_fields.reset(token)
