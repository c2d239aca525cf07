"""The app as a whole: served spec, routes vs contract, framework errors, request ids, probes,
background jobs."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
import yaml
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Match, Mount, Route
from taskiq import InMemoryBroker
from taskiq_redis import RedisStreamBroker

from codegen.generate import load_bundle
from impl.app import create_app
from impl.catalog.service import ProductService
from impl.jobs.broker import GROUP, stream_name
from impl.jobs.runtime import TASK_PREFIX
from impl.settings import Settings
from specfirst import OperationRoutes
from specfirst.document import Document
from specfirst.routing import PathEndpoint
from tests.polling import until

ROOT = Path(__file__).resolve().parents[2]
META_PATHS = {"/openapi.json", "/openapi.yaml", "/docs", "/docs/init.js", "/docs/assets/{name}"}


def _bundle() -> dict[str, object]:
    return load_bundle(ROOT / "openapi/openapi.yaml").document


def _flat(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    for route in routes:
        yield from route.routes if isinstance(route, OperationRoutes) else (route,)


def test_routes_are_exactly_the_spec_operations(app: Starlette) -> None:
    documented = {(op.method.upper(), op.path) for op in Document(_bundle()).operations()}
    # Each path's route takes every method to its PathEndpoint, which serves the documented
    # ones and answers 405 to the rest.
    served = {
        (method, route.path)
        for route in _flat(app.routes)
        if isinstance(route, Route) and isinstance(route.app, PathEndpoint)
        for method in route.app.endpoints
    }
    assert served == documented
    meta = {r.path for r in app.routes if isinstance(r, Route) and r.path in META_PATHS}
    assert meta == META_PATHS
    assert not [r for r in app.routes if isinstance(r, Mount)]


async def test_served_spec_is_the_bundle(client: httpx.AsyncClient) -> None:
    document = _bundle()
    as_json = await client.get("/openapi.json")
    assert as_json.status_code == 200
    assert as_json.json() == document
    as_yaml = await client.get("/openapi.yaml")
    assert as_yaml.headers["content-type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.text) == document


async def test_docs_work_offline(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")
    for asset in (
        "/docs/assets/swagger-ui-bundle.js",
        "/docs/assets/swagger-ui.css",
        "/docs/init.js",
    ):
        assert (await client.get(asset)).status_code == 200, asset
    # Swagger UI renders OpenAPI 3.1 from version 5 on; older bundles refuse our document.
    bundle = (await client.get("/docs/assets/swagger-ui-bundle.js")).text
    assert re.search(r'"5\.\d+\.\d+"', bundle)


class TestFrameworkErrors:
    async def test_unknown_route(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/nowhere")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["instance"] == "/v1/nowhere"

    async def test_wrong_method(self, client: httpx.AsyncClient) -> None:
        response = await client.put("/v1/me")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, PATCH"
        assert response.headers["content-type"] == "application/problem+json"

    async def test_malformed_json(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/users", content=b'{"email": ', headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"

    async def test_unsupported_media_type(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/users", content=b"email=a", headers={"content-type": "text/plain"}
        )
        assert response.status_code == 415

    async def test_unhandled_error_is_a_500_without_internals(
        self,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        team_id: str,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        async def explode(*args: object, **kwargs: object) -> None:
            raise RuntimeError("secret internals")

        monkeypatch.setattr(ProductService, "list_products", explode)
        response = await client.get(
            f"/v1/teams/{team_id}/products", headers={**auth, "X-Request-ID": "req-500"}
        )
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert "secret" not in response.text
        assert response.json()["request_id"] == "req-500"
        records = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert records
        assert "secret internals" in caplog.text


class TestRequestId:
    async def test_echoed(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz", headers={"X-Request-ID": "abc.123"})
        assert response.headers["x-request-id"] == "abc.123"

    async def test_generated_when_absent_or_insane(self, client: httpx.AsyncClient) -> None:
        first = await client.get("/healthz")
        second = await client.get("/healthz", headers={"X-Request-ID": "x" * 500})
        assert len(first.headers["x-request-id"]) == 32
        assert len(second.headers["x-request-id"]) == 32
        assert first.headers["x-request-id"] != second.headers["x-request-id"]


class TestProbes:
    async def test_health(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_ready_without_redis(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok", "redis": "skipped"}

    async def test_ready_with_redis(
        self, settings: Settings, redis_url: str, redis_prefix: str
    ) -> None:
        # The app schedules its periodic jobs on this Redis: under a prefix of the test's own.
        update = {"redis_url": redis_url, "jobs_redis_prefix": redis_prefix}
        app = create_app(settings.model_copy(update=update), validate_responses=True)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as c,
        ):
            response = await c.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}

    async def test_unreachable_redis_is_not_ready(self, settings: Settings) -> None:
        broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
        app = create_app(broken, validate_responses=True)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://t") as c,
        ):
            response = await c.get("/readyz")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["checks"]["redis"] == "failed"

    async def test_metrics(self, client: httpx.AsyncClient) -> None:
        await client.get("/healthz")
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert (
            'http_requests_total{method="GET",operation="get_health",status="200"}' in response.text
        )


def _job_tasks() -> set[str]:
    names = {task.get_name() for task in asyncio.all_tasks()}
    return {name for name in names if name.startswith(TASK_PREFIX)}


class TestBackgroundJobs:
    async def test_in_process_jobs_start_and_stop_with_the_app(
        self, settings: Settings, caplog: pytest.LogCaptureFixture
    ) -> None:
        app = create_app(settings, validate_responses=True)
        with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
            warnings.simplefilter("always")
            async with app.router.lifespan_context(app):
                assert isinstance(app.state.jobs.broker, InMemoryBroker)
                assert _job_tasks() == {f"{TASK_PREFIX}-scheduler"}
                # A job runs in this process. (The scheduler enqueues housekeeping as the app
                # starts, unless an app of this process did this period: tests/impl/jobs.)
                job_id = await app.state.jobs.kick("housekeeping")
                await until(lambda: _logged(caplog, f"job housekeeping {job_id} done"))
            assert _job_tasks() == set()
            gc.collect()  # a task or connection left behind would warn as it is collected
        assert [str(warning.message) for warning in caught] == []
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []

    async def test_with_redis_the_app_only_schedules(
        self, settings: Settings, redis_url: str, redis_prefix: str, redis: Redis
    ) -> None:
        update = {"redis_url": redis_url, "jobs_redis_prefix": redis_prefix}
        settings = settings.model_copy(update=update)
        app, stream = create_app(settings, validate_responses=True), stream_name(settings)
        async with app.router.lifespan_context(app):
            assert isinstance(app.state.jobs.broker, RedisStreamBroker)
            assert _job_tasks() == {f"{TASK_PREFIX}-scheduler"}
            await until(lambda: redis.xlen(stream))
        assert _job_tasks() == set()
        # Enqueued once for this period, and left for the workers: nobody read it.
        assert await redis.xlen(stream) == 1
        [group] = await redis.xinfo_groups(stream)
        assert (group["name"], group["consumers"], group["pending"]) == (GROUP, 0, 0)


def _logged(caplog: pytest.LogCaptureFixture, *parts: str) -> bool:
    return any(all(part in r.getMessage() for part in parts) for r in caplog.records)


def _linear(routes: Sequence[Route], scope: dict[str, object]) -> tuple[Match, Route | None]:
    """What Starlette's router would pick among `routes`: the first full match, else the
    first partial one."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return match, route
        if match is Match.PARTIAL and partial is None:
            partial = route
    return (Match.PARTIAL, partial) if partial else (Match.NONE, None)


def test_operation_routes_pick_what_the_router_would(app: Starlette) -> None:
    (operations,) = [r for r in app.routes if isinstance(r, OperationRoutes)]
    value = "0192f4a3-5d6e-7f80-a1b2-c3d4e5f60718"
    paths = {re.sub(r"\{[^}]+\}", value, route.path) for route in operations.routes}
    variants = {v for p in paths for v in (p, p + "/", p + "/x", p.rsplit("/", 1)[0], "/x" + p)}
    variants |= {"/", "/v1", "/v1/me/x", "/v1/teams/not-a-uuid/products"}
    checked = 0
    for path in sorted(variants):
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"):
            for root in ("", "/api"):
                scope: dict[str, object] = {
                    "type": "http",
                    "method": method,
                    "path": root + path,
                    "root_path": root,
                }
                match, child = operations.matches(scope)
                expected, route = _linear(operations.routes, scope)
                assert (match, child.get("openapi.route")) == (expected, route), scope
                checked += match is not Match.NONE
    assert checked > 2 * len(paths)  # the full and partial matches were compared, not only misses
