"""PostgreSQL stops under a steady write load, then comes back: through the real app.

The cluster is this test's own (`tests.throwaway`), never the shared one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from impl.app import create_app
from impl.kit.db import create_engine, create_sessionmaker
from impl.kit.migrate import migrate
from impl.models import IdempotencyKey, Order, StockLevel
from impl.settings import Settings
from tests.api.conftest import sign_up
from tests.polling import until
from tests.throwaway import ThrowawayPostgres, throwaway_postgres

OUTAGE_SECONDS = 10  # as long as the outage the service must ride out
STOCK = 10_000


@pytest.fixture
async def postgres() -> AsyncIterator[ThrowawayPostgres]:
    with throwaway_postgres() as server:
        await migrate(server.url)
        yield server


@pytest.fixture
async def app(postgres: ThrowawayPostgres) -> AsyncIterator[Starlette]:
    # A steady stream from one account: far more than its default rate limit allows.
    settings = Settings(
        database_url=postgres.url, freeze_heap=False, db_pool_size=4, rate_limit_scale=1000
    )
    application = create_app(settings, validate_responses=True)
    async with application.router.lifespan_context(application):
        yield application


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) > 0
    assert response.json()["status"] == 503


async def test_a_database_outage_is_503_and_loses_nothing(
    app: Starlette, postgres: ThrowawayPostgres
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        auth = await sign_up(client, name="ops")
        team = (await client.post("/v1/teams", json={"name": "Shop"}, headers=auth)).json()["id"]
        product = await client.post(
            f"/v1/teams/{team}/products",
            json={"sku": "A", "name": "A", "price": "1.00", "currency": "EUR", "status": "active"},
            headers=auth,
        )
        product_id = product.json()["id"]
        stocked = await client.post(
            f"/v1/teams/{team}/products/{product_id}/stock/movements",
            json={"delta": STOCK, "reason": "receive"},
            headers=auth,
        )
        assert stocked.status_code == 201
        orders_url = f"/v1/teams/{team}/orders"
        body = {
            "customer_email": "b@example.com",
            "lines": [{"product_id": product_id, "quantity": 1}],
        }
        answers: dict[str, int] = {}
        stop = asyncio.Event()

        async def steady_writes() -> None:
            n = 0
            while not stop.is_set():
                key = f"order-{n:06d}"
                n += 1
                response = await client.post(
                    orders_url, json=body, headers={**auth, "Idempotency-Key": key}
                )
                if response.status_code != 201:
                    _unavailable(response)
                answers[key] = response.status_code
                await asyncio.sleep(0.005)

        load = asyncio.create_task(steady_writes())
        await until(lambda: len(answers) >= 20)

        await asyncio.to_thread(postgres.stop)
        # Readiness says so at once; liveness touches no dependency and stays 200.
        _unavailable(await client.get("/readyz"))
        assert (await client.get("/healthz")).status_code == 200
        _unavailable(await client.get("/v1/me", headers=auth))
        _unavailable(await client.get(orders_url, headers=auth))
        before = len(answers)
        await asyncio.sleep(OUTAGE_SECONDS)
        assert not load.done(), load
        assert len(answers) > before, "the load went on through the outage"
        assert 503 in list(answers.values())[before:]

        await asyncio.to_thread(postgres.start)
        # It recovers by itself: no restart, no operator.
        await until(
            lambda: any(answers[k] == 201 for k in list(answers)[-3:]) and len(answers) > 0,
            within=5,
        )
        assert (await client.get("/readyz")).status_code == 200
        stop.set()
        await load
        refused = [key for key, status in answers.items() if status == 503]

        # The clients retry what was refused, with the same keys: each is applied once.
        for key in refused:
            retried = await client.post(
                orders_url, json=body, headers={**auth, "Idempotency-Key": key}
            )
            assert retried.status_code == 201, retried.text
        replayed = await client.post(
            orders_url, json=body, headers={**auth, "Idempotency-Key": refused[0]}
        )
        assert replayed.headers["idempotent-replayed"] == "true"

    engine = create_engine(Settings(database_url=postgres.url))
    try:
        async with create_sessionmaker(engine)() as session:
            orders = await session.scalar(select(func.count()).select_from(Order))
            keys = await session.scalar(select(func.count()).select_from(IdempotencyKey))
            on_hand = await session.scalar(select(StockLevel.on_hand))
    finally:
        await engine.dispose()
    # Every acknowledged write is there, and nothing twice.
    assert orders == keys == len(answers)
    assert on_hand == STOCK - len(answers)
