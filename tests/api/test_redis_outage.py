"""Redis goes away and comes back, under the real app (a redis-server of the test's own).

What each Redis-backed part does meanwhile: rate limits fail open (served, uncounted),
readiness answers 503, and nothing else a request needs depends on Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from impl.app import create_app
from impl.settings import Settings
from tests.api.conftest import sign_up
from tests.throwaway import ThrowawayRedis, throwaway_redis


@pytest.fixture
async def redis_server() -> AsyncIterator[ThrowawayRedis]:
    with throwaway_redis() as server:
        yield server


@pytest.fixture
async def app(settings: Settings, redis_server: ThrowawayRedis) -> AsyncIterator[Starlette]:
    application = create_app(
        settings.model_copy(update={"redis_url": redis_server.url}), validate_responses=True
    )
    async with application.router.lifespan_context(application):
        yield application


async def test_a_redis_outage_fails_rate_limits_open(
    client: httpx.AsyncClient, redis_server: ThrowawayRedis
) -> None:
    auth = await sign_up(client, name="ops")
    counted = await client.get("/v1/me", headers=auth)
    assert counted.status_code == 200
    assert "ratelimit" in counted.headers
    assert (await client.get("/readyz")).status_code == 200

    await asyncio.to_thread(redis_server.stop)
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["redis"] == "failed"
    for _ in range(5):
        served = await client.get("/v1/me", headers=auth)
        assert served.status_code == 200
        assert "ratelimit" not in served.headers  # not counted, not refused
    created = await client.post("/v1/teams", json={"name": "Still"}, headers=auth)
    assert created.status_code == 201

    await asyncio.to_thread(redis_server.start)
    again = await client.get("/v1/me", headers=auth)
    assert again.status_code == 200
    assert "ratelimit" in again.headers
    assert (await client.get("/readyz")).status_code == 200
