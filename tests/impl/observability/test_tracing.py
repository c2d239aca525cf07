from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.accounts.service import AccountService
from impl.app import create_app
from impl.settings import Settings
from tests.conftest import Database
from tests.impl.observability.conftest import Configure, lines, served

ROOT = Path(__file__).resolve().parents[3]
PASSWORD = "a-long-enough-password"
PRODUCT = {"sku": "TENT-1", "name": "Tent", "price": "129.00", "currency": "EUR"}


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
async def traced(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    exporter: InMemorySpanExporter,
) -> AsyncIterator[httpx.AsyncClient]:
    # No periodic jobs: their statements' spans would mingle with the requests'.
    quiet = settings.model_copy(update={"housekeeping_interval_minutes": 0})
    app = create_app(quiet, validate_responses=True, span_exporter=exporter)
    async for client in served(app):
        yield client


async def _team_with_product(client: httpx.AsyncClient) -> tuple[dict[str, str], str, str]:
    await client.post(
        "/v1/users",
        json={"email": "tracer@example.com", "username": "tracer", "password": PASSWORD},
    )
    token = await client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": "tracer@example.com", "password": PASSWORD},
    )
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    team_id = (await client.post("/v1/teams", json={"name": "S"}, headers=auth)).json()["id"]
    created = await client.post(f"/v1/teams/{team_id}/products", json=PRODUCT, headers=auth)
    assert created.status_code == 201, created.text
    return auth, team_id, created.json()["id"]


def _request_span(spans: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    [span] = [s for s in spans if s.kind is SpanKind.SERVER and s.name == name]
    return span


class TestRequestSpans:
    async def test_span_per_request_with_statement_children_and_its_trace_id_in_the_log(
        self,
        traced: httpx.AsyncClient,
        exporter: InMemorySpanExporter,
        log_to: Configure,
        database: Database,
    ) -> None:
        auth, team_id, product_id = await _team_with_product(traced)
        exporter.clear()
        out = log_to("INFO")
        response = await traced.get(
            f"/v1/teams/{team_id}/products/{product_id}", headers={**auth, "X-Request-ID": "t-1"}
        )
        assert response.status_code == 200
        spans = exporter.get_finished_spans()
        request = _request_span(spans, "get_product")
        assert request.parent is None
        assert request.attributes is not None
        assert request.attributes["http.route"] == "/v1/teams/{team_id}/products/{product_id}"
        assert request.attributes["http.response.status_code"] == 200
        assert request.attributes["storefront.request_id"] == "t-1"
        context = request.get_span_context()
        assert context is not None
        children = [
            s for s in spans if s.parent is not None and s.parent.span_id == context.span_id
        ]
        statements = [s for s in children if s.attributes and "db.statement" in s.attributes]
        assert statements, [s.name for s in spans]
        assert all(s.kind is SpanKind.CLIENT for s in statements)
        # get_product is one statement: the caller, their role and the product together.
        assert any("products" in str(s.attributes["db.statement"]) for s in statements)  # type: ignore[index]
        assert {s.context.trace_id for s in spans} == {context.trace_id}
        [access] = [r for r in lines(out) if r["event"] == "request"]
        assert access["trace_id"] == format(context.trace_id, "032x")
        assert access["request_id"] == "t-1"

    async def test_statements_the_driver_runs_alone_have_spans_too(
        self, traced: httpx.AsyncClient, exporter: InMemorySpanExporter, database: Database
    ) -> None:
        auth, team_id, product_id = await _team_with_product(traced)
        exporter.clear()
        await traced.get(f"/v1/teams/{team_id}/products/{product_id}", headers=auth)
        spans = exporter.get_finished_spans()
        scopes = {
            (s.name, s.instrumentation_scope.name if s.instrumentation_scope else None)
            for s in spans
            if s.kind is SpanKind.CLIENT
        }
        if database.backend == "postgresql":
            # Its one statement goes straight to asyncpg, unseen by SQLAlchemy's
            # instrumentation: impl.kit.query makes its span.
            assert scopes == {(f"SELECT {database.engine.url.database}", "storefront")}
        else:
            # SQLite's go through SQLAlchemy (BEGIN and the pool's connect included).
            assert {scope for _, scope in scopes} == {"opentelemetry.instrumentation.sqlalchemy"}
            assert any(name.startswith("SELECT ") for name, _ in scopes)

    async def test_continues_the_callers_trace(
        self, traced: httpx.AsyncClient, exporter: InMemorySpanExporter
    ) -> None:
        trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        await traced.get("/v1/me", headers={"traceparent": f"00-{trace_id}-{parent}-01"})
        span = _request_span(exporter.get_finished_spans(), "get_me")
        assert span.parent is not None
        assert format(span.parent.span_id, "016x") == parent
        assert format(span.context.trace_id, "032x") == trace_id
        assert span.attributes is not None
        assert span.attributes["http.response.status_code"] == 401

    async def test_a_failed_request_is_an_error_span_and_its_error_line_has_the_trace(
        self,
        traced: httpx.AsyncClient,
        exporter: InMemorySpanExporter,
        log_to: Configure,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        auth, _, _ = await _team_with_product(traced)

        async def explode(*_args: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr(AccountService, "get_user", explode)
        exporter.clear()
        out = log_to("INFO")
        assert (await traced.get("/v1/me", headers=auth)).status_code == 500
        span = _request_span(exporter.get_finished_spans(), "get_me")
        assert span.status.status_code is StatusCode.ERROR
        [error] = [r for r in lines(out) if r["level"] == "error"]
        assert error["trace_id"] == format(span.context.trace_id, "032x")

    async def test_probes_are_not_traced(
        self, traced: httpx.AsyncClient, exporter: InMemorySpanExporter
    ) -> None:
        for path in ("/healthz", "/readyz", "/metrics"):
            assert (await traced.get(path)).status_code == 200
        assert exporter.get_finished_spans() == ()


def test_off_by_default_imports_nothing(database: Database) -> None:
    # Of tracing, that is: redis-py (8) imports OpenTelemetry's API and metrics SDK itself
    # when they are installed, for its own metrics, which stay off unless initialised; FastAPI
    # (0.165) imports the API's propagators for its native telemetry, which stays off unless a
    # global provider is configured (Storefront configures none). Beyond those, nothing.
    script = """
import sys, httpx, asyncio
TRACING = (
    "opentelemetry.sdk.trace", "opentelemetry.exporter", "opentelemetry.instrumentation",
    "opentelemetry.propagate", "opentelemetry.propagators",
)
import fastapi
FRAMEWORK = {m for m in sys.modules if m.startswith(TRACING)}
from impl.accounts.service import AccountService
from impl.app import create_app
from impl.settings import Settings

async def main():
    app = create_app(Settings(database_url=sys.argv[1], freeze_heap=False))
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=transport, base_url="http://t"
    ) as client:
        assert (await client.get("/v1/me")).status_code == 401
        assert (await client.get("/readyz")).status_code == 200

asyncio.run(main())
from impl.kit import query
print(query._statement_span is None)
print(sorted(m for m in sys.modules if m.startswith(TRACING) and m not in FRAMEWORK))
"""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    result = subprocess.run(
        [sys.executable, "-c", script, database.url],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert result.stdout.strip().splitlines()[-2:] == ["True", "[]"]


def test_on_with_the_endpoint(settings: Settings) -> None:
    from impl.observability.tracing import Tracing

    assert Tracing.from_settings(settings) is None
    on = Tracing.from_settings(
        settings.model_copy(update={"otel_exporter_otlp_endpoint": "http://127.0.0.1:4318"})
    )
    assert on is not None
    resource: Any = on.provider.resource
    assert resource.attributes["service.name"] == "storefront"
    on.shutdown()


class _Collector(BaseHTTPRequestHandler):
    """An OTLP/HTTP collector's traces endpoint: keeps what it is sent."""

    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    _Collector.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", _Collector.received
    finally:
        server.shutdown()
        server.server_close()


async def test_spans_reach_an_otlp_collector(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    collector: tuple[str, list[tuple[str, str, bytes]]],
) -> None:
    endpoint, received = collector
    on = settings.model_copy(
        update={"otel_exporter_otlp_endpoint": endpoint, "housekeeping_interval_minutes": 0}
    )
    async for client in served(create_app(on, validate_responses=True)):
        assert (await client.get("/v1/me")).status_code == 401
    # The app's shutdown flushed the batch.
    assert {(path, kind) for path, kind, _ in received} == {
        ("/v1/traces", "application/x-protobuf")
    }
    names = set()
    for _, _, body in received:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource in request.resource_spans:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}
            assert service["service.name"] == "storefront"
            names |= {span.name for scope in resource.scope_spans for span in scope.spans}
    assert "get_me" in names
