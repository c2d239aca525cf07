"""OpenTelemetry traces, off unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Off, nothing of OpenTelemetry is imported and a request pays one `is None` test. On: a
server span per request named by its operationId (health, readiness and metrics excluded),
continuing a caller's W3C `traceparent`; a client span per database statement, from
SQLAlchemy's instrumentation on the sync engine (the async engine's instrumentation leaks
spans) for the statements SQLAlchemy runs, and from `impl.kit.query` for those sent
straight to asyncpg, which SQLAlchemy never sees. The trace id goes into the request's log
lines. Spans are exported over OTLP/HTTP in batches, off the request path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import Scope

from impl.kit import query
from impl.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span

# Probes and scrapes: frequent, and nothing to learn from their traces.
UNTRACED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_FIRST_WORD = re.compile(r"\s*(\w+)")


@dataclass(frozen=True, slots=True)
class Traced:
    """A request being traced: its span and the context token that made it current; or,
    on an untraced path, the suppression of instrumentation in force until it ends."""

    span: Span | None
    token: object
    suppressed: AbstractContextManager[Any] | None

    def trace_id(self) -> str | None:
        if self.span is None:
            return None
        return format(self.span.get_span_context().trace_id, "032x")


class Tracing:
    """The tracer provider of one app, with the hooks that make its spans."""

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry import context, propagate, trace
        from opentelemetry.instrumentation.utils import (
            is_instrumentation_enabled,
            suppress_instrumentation,
        )
        from opentelemetry.trace import SpanKind, StatusCode

        self.provider = provider
        self._tracer = provider.get_tracer("storefront")
        self._context = context
        self._trace = trace
        self._extract = propagate.extract
        self._suppress = suppress_instrumentation
        self._enabled = is_instrumentation_enabled
        self._server = SpanKind.SERVER
        self._client = SpanKind.CLIENT
        self._error = StatusCode.ERROR
        self._instrumentor: Any = None
        self._database: str | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, exporter: SpanExporter | None = None
    ) -> Tracing | None:
        """None unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set or `exporter` given (tests: the
        SDK's `InMemorySpanExporter`, whose spans are then exported as they end)."""
        endpoint = settings.otel_exporter_otlp_endpoint
        if exporter is None and not endpoint:
            return None
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        provider = TracerProvider(
            resource=Resource.create({"service.name": settings.otel_service_name})
        )
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            assert endpoint is not None
            # The variable names the collector's base URL, as the SDK reads it.
            traces = f"{endpoint.rstrip('/')}/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces)))
        return cls(provider)

    def instrument(self, engine: AsyncEngine) -> None:
        """Spans for `engine`'s statements: SQLAlchemy's own, and `impl.kit.query`'s."""
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        self._database = engine.url.database
        self._instrumentor = SQLAlchemyInstrumentor()
        # Its declared range stops below SQLAlchemy 2.1, whose engine events it uses are
        # unchanged; tests/impl/observability/test_tracing.py checks the spans it makes.
        self._instrumentor.instrument(
            engine=engine.sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )
        query.trace_statements(self._statement_span)

    def shutdown(self) -> None:
        """Remove the hooks, export what is left."""
        query.trace_statements(None)
        if self._instrumentor is not None:
            self._instrumentor.uninstrument()
            self._instrumentor = None
        self.provider.shutdown()

    def start_request(self, scope: Scope) -> Traced:
        """The request's span, current until `end_request`. An untraced path gets none, and
        its statements none either (they would be root spans of their own)."""
        if scope["path"] in UNTRACED_PATHS:
            suppressed = self._suppress()
            suppressed.__enter__()
            return Traced(None, None, suppressed)
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in scope["headers"]
            if key in (b"traceparent", b"tracestate")
        }
        parent = self._extract(carrier) if carrier else None
        method = scope["method"]
        span = self._tracer.start_span(
            method,
            context=parent,
            kind=self._server,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        )
        token = self._context.attach(self._trace.set_span_in_context(span))
        return Traced(span, token, None)

    def end_request(self, traced: Traced, operation: Any, status: int, request_id: str) -> None:
        if traced.suppressed is not None:
            traced.suppressed.__exit__(None, None, None)
            return
        span = traced.span
        assert span is not None
        if operation is not None:
            span.update_name(operation.operation_id)
            span.set_attribute("http.route", operation.path)
            span.set_attribute("storefront.operation_id", operation.operation_id)
        span.set_attribute("http.response.status_code", status)
        span.set_attribute("storefront.request_id", request_id)
        if status >= 500:
            span.set_status(self._error)
        span.end()
        self._context.detach(traced.token)  # type: ignore[arg-type]

    @contextmanager
    def _statement_span(self, sql: str) -> Iterator[None]:
        if not self._enabled():
            yield
            return
        match = _FIRST_WORD.match(sql)
        verb = match.group(1).upper() if match else "SQL"
        name = f"{verb} {self._database}" if self._database else verb
        attributes = {"db.system": "postgresql", "db.statement": sql}
        if self._database:
            attributes["db.name"] = self._database
        with self._tracer.start_as_current_span(name, kind=self._client, attributes=attributes):
            yield
