from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.housekeeping.service import HousekeepingService
from impl.kit.clock import utcnow
from impl.kit.db import unit_of_work
from impl.models import IdempotencyKey, Order, OrderLine, StockLevel, StockMovement
from impl.settings import Settings
from tests.api.conftest import sign_up


async def _product(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    team_id: str,
    *,
    price: str = "12.50",
    currency: str = "EUR",
    stock: int = 10,
    status: str = "active",
) -> str:
    response = await client.post(
        f"/v1/teams/{team_id}/products",
        json={
            "sku": f"SKU-{uuid.uuid4().hex[:8].upper()}",
            "name": "Thing",
            "price": price,
            "currency": currency,
            "status": status,
        },
        headers=auth,
    )
    assert response.status_code == 201
    product_id: str = response.json()["id"]
    if stock:
        adjusted = await client.post(
            f"/v1/teams/{team_id}/products/{product_id}/stock/movements",
            json={"delta": stock, "reason": "receive"},
            headers=auth,
        )
        assert adjusted.status_code == 201
    return product_id


async def _order(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    team_id: str,
    lines: list[tuple[str, int]],
    *,
    key: str | None = None,
    email: str = "buyer@example.com",
) -> httpx.Response:
    return await client.post(
        f"/v1/teams/{team_id}/orders",
        json={
            "customer_email": email,
            "lines": [{"product_id": p, "quantity": q} for p, q in lines],
        },
        headers={**auth, "Idempotency-Key": key or str(uuid.uuid4())},
    )


async def _on_hand(client: httpx.AsyncClient, auth: dict[str, str], team_id: str, p: str) -> int:
    response = await client.get(f"/v1/teams/{team_id}/products/{p}/stock", headers=auth)
    on_hand: int = response.json()["on_hand"]
    return on_hand


class TestCreateOrder:
    async def test_prices_totals_and_stock(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        mug = await _product(client, auth, team_id, price="0.10")
        tent = await _product(client, auth, team_id, price="129.99")
        response = await _order(client, auth, team_id, [(mug, 3), (tent, 1)])
        assert response.status_code == 201
        order = response.json()
        assert order["status"] == "pending"
        assert [(line["unit_price"], line["line_total"]) for line in order["lines"]] == [
            ("0.10", "0.30"),
            ("129.99", "129.99"),
        ]
        assert order["total"] == "130.29"  # exact: 0.1 * 3 is not 0.30000000000000004 here
        assert response.headers["location"].endswith(order["id"])
        assert "idempotent-replayed" not in response.headers
        assert await _on_hand(client, auth, team_id, mug) == 7
        # Prices were captured: a later price change does not touch the order.
        product = await client.get(f"/v1/teams/{team_id}/products/{mug}", headers=auth)
        await client.patch(
            f"/v1/teams/{team_id}/products/{mug}",
            json={"price": "99.00"},
            headers={**auth, "If-Match": product.headers["etag"]},
        )
        again = await client.get(f"/v1/teams/{team_id}/orders/{order['id']}", headers=auth)
        assert again.json()["total"] == "130.29"

    async def test_insufficient_stock_writes_nothing(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        plenty = await _product(client, auth, team_id, stock=10)
        scarce = await _product(client, auth, team_id, stock=1)
        response = await _order(client, auth, team_id, [(plenty, 5), (scarce, 2)])
        assert response.status_code == 409
        assert await _on_hand(client, auth, team_id, plenty) == 10
        orders = await client.get(f"/v1/teams/{team_id}/orders", headers=auth)
        assert orders.json()["items"] == []

    async def test_idempotent_replay(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product = await _product(client, auth, team_id)
        first = await _order(client, auth, team_id, [(product, 1)], key="k-1")
        second = await _order(client, auth, team_id, [(product, 1)], key="k-1")
        assert (first.status_code, second.status_code) == (201, 201)
        assert second.json() == first.json()
        assert second.headers["idempotent-replayed"] == "true"
        assert await _on_hand(client, auth, team_id, product) == 9

    async def test_replay_after_the_product_was_archived(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        # A retry gets the first answer, though its line would now be refused.
        product = await _product(client, auth, team_id)
        first = await _order(client, auth, team_id, [(product, 1)], key="k-a")
        url = f"/v1/teams/{team_id}/products/{product}"
        etag = (await client.get(url, headers=auth)).headers["etag"]
        archived = await client.patch(
            url, json={"status": "archived"}, headers={**auth, "If-Match": etag}
        )
        assert archived.status_code == 200
        again = await _order(client, auth, team_id, [(product, 1)], key="k-a")
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json()
        assert again.headers["idempotent-replayed"] == "true"
        fresh = await _order(client, auth, team_id, [(product, 1)], key="k-b")
        assert fresh.status_code == 422

    async def test_expired_key_creates_a_new_order(
        self,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        team_id: str,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        product = await _product(client, auth, team_id)
        first = await _order(client, auth, team_id, [(product, 1)], key="k-old")
        assert first.status_code == 201
        # A day and a minute pass: the key is aged in the database, then housekeeping runs.
        aged = utcnow() - timedelta(hours=settings.idempotency_key_retention_hours, minutes=1)
        async with unit_of_work(sessionmaker) as session:
            await session.execute(update(IdempotencyKey).values(created_at=aged))
        report = await HousekeepingService(settings).run(sessionmaker)
        assert report.idempotency_keys.rows == 1

        again = await _order(client, auth, team_id, [(product, 1)], key="k-old")

        assert again.status_code == 201
        assert again.json()["id"] != first.json()["id"]
        assert "idempotent-replayed" not in again.headers
        assert await _on_hand(client, auth, team_id, product) == 8

    async def test_key_reused_with_another_body(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product = await _product(client, auth, team_id)
        await _order(client, auth, team_id, [(product, 1)], key="k-2")
        response = await _order(client, auth, team_id, [(product, 2)], key="k-2")
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/header/Idempotency-Key"

    async def test_missing_key(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product = await _product(client, auth, team_id)
        response = await client.post(
            f"/v1/teams/{team_id}/orders",
            json={
                "customer_email": "a@example.com",
                "lines": [{"product_id": product, "quantity": 1}],
            },
            headers=auth,
        )
        assert response.status_code == 422

    async def test_failed_attempt_keeps_no_key(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product = await _product(client, auth, team_id, stock=1)
        failed = await _order(client, auth, team_id, [(product, 2)], key="k-3")
        assert failed.status_code == 409
        await client.post(
            f"/v1/teams/{team_id}/products/{product}/stock/movements",
            json={"delta": 5, "reason": "receive"},
            headers=auth,
        )
        retried = await _order(client, auth, team_id, [(product, 2)], key="k-3")
        assert retried.status_code == 201

    @pytest.mark.parametrize("problem", ["unknown", "draft", "currency", "duplicate"])
    async def test_invalid_lines(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str, problem: str
    ) -> None:
        good = await _product(client, auth, team_id)
        other: dict[str, Any] = {
            "unknown": str(uuid.uuid4()),
            "draft": await _product(client, auth, team_id, status="draft"),
            "currency": await _product(client, auth, team_id, currency="USD"),
            "duplicate": good,
        }
        response = await _order(client, auth, team_id, [(good, 1), (other[problem], 1)])
        assert response.status_code == 422
        assert await _on_hand(client, auth, team_id, good) == 10

    async def test_another_teams_product(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        # The lines' products are read with the caller (impl.context.ReadAhead), in the team.
        other_team = (await client.post("/v1/teams", json={"name": "B"}, headers=auth)).json()
        theirs = await _product(client, auth, other_team["id"])
        response = await _order(client, auth, team_id, [(theirs, 1)])
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/body/lines/0/product_id"
        assert await _on_hand(client, auth, other_team["id"], theirs) == 10

    async def test_outsider_orders_nothing(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product = await _product(client, auth, team_id)
        response = await _order(client, await sign_up(client), team_id, [(product, 1)])
        assert response.status_code == 404
        assert response.json()["detail"] == "Team not found"
        assert await _on_hand(client, auth, team_id, product) == 10


class TestTransitions:
    async def test_happy_path_and_illegal_moves(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product = await _product(client, auth, team_id)
        order = (await _order(client, auth, team_id, [(product, 2)])).json()
        url = f"/v1/teams/{team_id}/orders/{order['id']}"
        assert (await client.post(f"{url}/fulfill", headers=auth)).status_code == 409
        for action, status in [("pay", "paid"), ("fulfill", "fulfilled"), ("refund", "refunded")]:
            response = await client.post(f"{url}/{action}", headers=auth)
            assert response.status_code == 200
            assert response.json()["status"] == status
        illegal = await client.post(f"{url}/cancel", headers=auth)
        assert illegal.status_code == 409
        assert illegal.json()["current_status"] == "refunded"
        # Fulfilled goods left the shelf: the refund does not restock them.
        assert await _on_hand(client, auth, team_id, product) == 8

    @pytest.mark.parametrize("path", [["cancel"], ["pay", "cancel"], ["pay", "refund"]])
    async def test_release_restocks(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str, path: list[str]
    ) -> None:
        product = await _product(client, auth, team_id)
        order = (await _order(client, auth, team_id, [(product, 4)])).json()
        for action in path:
            response = await client.post(
                f"/v1/teams/{team_id}/orders/{order['id']}/{action}", headers=auth
            )
            assert response.status_code == 200
        assert await _on_hand(client, auth, team_id, product) == 10
        ledger = await client.get(
            f"/v1/teams/{team_id}/products/{product}/stock/movements", headers=auth
        )
        assert sum(m["delta"] for m in ledger.json()["items"]) == 10


class TestListOrders:
    async def test_filters_and_pages(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product = await _product(client, auth, team_id, stock=100)
        ids = []
        for i in range(5):
            email = "vip@example.com" if i % 2 else "walkin@example.com"
            ids.append(
                (await _order(client, auth, team_id, [(product, 1)], email=email)).json()["id"]
            )
        await client.post(f"/v1/teams/{team_id}/orders/{ids[0]}/pay", headers=auth)

        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = (
                await client.get(f"/v1/teams/{team_id}/orders", params=params, headers=auth)
            ).json()
            seen += [o["id"] for o in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ids[::-1]

        paid = await client.get(f"/v1/teams/{team_id}/orders?status=paid", headers=auth)
        assert [o["id"] for o in paid.json()["items"]] == [ids[0]]
        vip = await client.get(
            f"/v1/teams/{team_id}/orders",
            params={"customer_email": "VIP@example.com"},
            headers=auth,
        )
        assert [o["id"] for o in vip.json()["items"]] == [ids[3], ids[1]]
        # `format: email` is syntax: a special-use domain (RFC 6761) is a valid filter too,
        # in a query parameter as in a body (the fuzzer found `?…@then.test` refused once).
        special = await client.get(
            f"/v1/teams/{team_id}/orders",
            params={"customer_email": "?wmr~g-~@then.test"},
            headers=auth,
        )
        assert special.status_code == 200
        assert special.json()["items"] == []
        future = await client.get(
            f"/v1/teams/{team_id}/orders",
            params={"created_after": "2999-01-01T00:00:00Z"},
            headers=auth,
        )
        assert future.json()["items"] == []


class TestConcurrency:
    """Many requests at once through the app; each has its own transaction and connection."""

    async def test_fifty_orders_for_ten_units(
        self,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        team_id: str,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        product = await _product(client, auth, team_id, stock=10)
        responses = await asyncio.gather(
            *[_order(client, auth, team_id, [(product, 1)]) for _ in range(50)]
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] * 10 + [409] * 40
        async with unit_of_work(sessionmaker) as session:
            level = await session.get(StockLevel, uuid.UUID(product))
            ledger = await session.scalar(
                select(func.sum(StockMovement.delta)).where(
                    StockMovement.product_id == uuid.UUID(product)
                )
            )
            orders = await session.scalar(select(func.count()).select_from(Order))
            lines = await session.scalar(select(func.count()).select_from(OrderLine))
        assert level is not None
        assert (level.on_hand, ledger, orders, lines) == (0, 0, 10, 10)

    async def test_twenty_retries_make_one_order(
        self,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        team_id: str,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        product = await _product(client, auth, team_id, stock=10)
        responses = await asyncio.gather(
            *[_order(client, auth, team_id, [(product, 1)], key="same") for _ in range(20)]
        )
        assert {r.status_code for r in responses} == {201}
        assert len({r.json()["id"] for r in responses}) == 1
        async with unit_of_work(sessionmaker) as session:
            orders = await session.scalar(select(func.count()).select_from(Order))
        assert orders == 1
        assert await _on_hand(client, auth, team_id, product) == 9

    async def test_same_etag_twice(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product = await _product(client, auth, team_id, stock=0)
        url = f"/v1/teams/{team_id}/products/{product}"
        etag = (await client.get(url, headers=auth)).headers["etag"]
        responses = await asyncio.gather(
            *[
                client.patch(url, json={"name": name}, headers={**auth, "If-Match": etag})
                for name in ("First", "Second")
            ]
        )
        assert sorted(r.status_code for r in responses) == [200, 412]

    async def test_racing_transitions(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product = await _product(client, auth, team_id, stock=5)
        order = (await _order(client, auth, team_id, [(product, 5)])).json()
        url = f"/v1/teams/{team_id}/orders/{order['id']}"
        responses = await asyncio.gather(
            *[client.post(f"{url}/cancel", headers=auth) for _ in range(5)]
        )
        assert sorted(r.status_code for r in responses) == [200] + [409] * 4
        # Released once, not five times.
        assert await _on_hand(client, auth, team_id, product) == 5
