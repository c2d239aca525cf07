from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.api.conftest import sign_up


async def _events(
    client: httpx.AsyncClient, auth: dict[str, str], team_id: str, **params: str
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/teams/{team_id}/audit-events", params=params, headers=auth)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def _product(client: httpx.AsyncClient, auth: dict[str, str], team_id: str) -> httpx.Response:
    response = await client.post(
        f"/v1/teams/{team_id}/products",
        json={
            "sku": "AUD-1",
            "name": "Mug",
            "price": "12.50",
            "currency": "EUR",
            "status": "active",
        },
        headers={**auth, "X-Request-ID": "create-the-mug"},
    )
    assert response.status_code == 201
    return response


class TestListAuditEvents:
    async def test_update_records_before_and_after(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        created = await _product(client, auth, team_id)
        product_id = created.json()["id"]
        me = (await client.get("/v1/me", headers=auth)).json()["id"]
        updated = await client.patch(
            f"/v1/teams/{team_id}/products/{product_id}",
            json={"price": "14.00"},
            headers={**auth, "If-Match": created.headers["etag"]},
        )
        assert updated.status_code == 200

        events = await _events(client, auth, team_id, entity_id=product_id)

        assert [(e["action"], e["change"]) for e in events] == [
            ("update_product", "updated"),
            ("create_product", "created"),
        ]
        newest, first = events
        assert newest["changes"] == {"price": {"before": "12.50", "after": "14.00"}}
        assert newest["actor_id"] == me
        assert newest["request_id"] == updated.headers["x-request-id"]
        assert first["request_id"] == "create-the-mug"
        assert first["changes"]["sku"] == {"after": "AUD-1"}

    async def test_json_fields_are_recorded_as_json(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product_id = (await _product(client, auth, team_id)).json()["id"]
        etag = (
            await client.get(f"/v1/teams/{team_id}/products/{product_id}", headers=auth)
        ).headers["etag"]
        tagged = await client.patch(
            f"/v1/teams/{team_id}/products/{product_id}",
            json={"tags": ["mugs", "kitchen"]},
            headers={**auth, "If-Match": etag},
        )
        assert tagged.status_code == 200, tagged.text

        newest = (await _events(client, auth, team_id, entity_id=product_id))[0]

        assert newest["changes"]["tags"] == {"before": [], "after": ["mugs", "kitchen"]}

    async def test_a_failed_request_leaves_no_trace(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        created = await _product(client, auth, team_id)
        stale = await client.patch(
            f"/v1/teams/{team_id}/products/{created.json()['id']}",
            json={"name": "x"},
            headers={**auth, "If-Match": '"stale"'},
        )
        assert stale.status_code == 412
        events = await _events(client, auth, team_id, entity_type="product")
        assert [e["action"] for e in events] == ["create_product"]

    async def test_team_membership_stock_and_orders(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        product_id = (await _product(client, auth, team_id)).json()["id"]
        await sign_up(client, name="audited")
        await client.post(
            f"/v1/teams/{team_id}/members",
            json={"email": "audited@example.com", "role": "viewer"},
            headers=auth,
        )
        await client.post(
            f"/v1/teams/{team_id}/products/{product_id}/stock/movements",
            json={"delta": 3, "reason": "receive"},
            headers=auth,
        )
        order = await client.post(
            f"/v1/teams/{team_id}/orders",
            json={
                "customer_email": "c@example.com",
                "lines": [{"product_id": product_id, "quantity": 1}],
            },
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )
        await client.post(f"/v1/teams/{team_id}/orders/{order.json()['id']}/cancel", headers=auth)

        actions = [e["action"] for e in await _events(client, auth, team_id)]
        assert actions[0] == "cancel_order"
        assert {"create_team", "add_member", "adjust_stock", "create_order"} <= set(actions)
        cancelled = await _events(client, auth, team_id, action="cancel_order", entity_type="order")
        assert cancelled[0]["changes"]["status"] == {"before": "pending", "after": "cancelled"}

    async def test_create_order_records_the_order_and_its_ledger_row(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        # Placing an order writes without the ORM; its events must be the ones a flush makes.
        product_id = (await _product(client, auth, team_id)).json()["id"]
        stock = f"/v1/teams/{team_id}/products/{product_id}/stock/movements"
        await client.post(stock, json={"delta": 3, "reason": "receive"}, headers=auth)
        me = (await client.get("/v1/me", headers=auth)).json()["id"]
        placed = await client.post(
            f"/v1/teams/{team_id}/orders",
            json={
                "customer_email": "Buyer@Example.com",
                "lines": [{"product_id": product_id, "quantity": 2}],
                "note": "gift",
            },
            headers={**auth, "Idempotency-Key": str(uuid.uuid4()), "X-Request-ID": "place-it"},
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        ledger = (await client.get(stock, headers=auth)).json()["items"]
        [movement_id] = [m["id"] for m in ledger if m["order_id"] == order_id]

        events = await _events(client, auth, team_id, action="create_order")

        assert [(e["entity_type"], e["entity_id"]) for e in events] == [
            ("stock_movement", movement_id),
            ("order", order_id),
        ]
        assert {(e["change"], e["actor_id"], e["request_id"]) for e in events} == {
            ("created", me, "place-it")
        }
        movement, order = events
        assert order["changes"] == {
            "id": {"after": order_id},
            "team_id": {"after": team_id},
            "status": {"after": "pending"},
            "customer_email": {"after": "buyer@example.com"},
            "currency": {"after": "EUR"},
            "total": {"after": "25.00"},
            "note": {"after": "gift"},
            "created_by": {"after": me},
        }
        assert movement["changes"] == {
            "id": {"after": movement_id},
            "team_id": {"after": team_id},
            "product_id": {"after": product_id},
            "delta": {"after": -2},
            "on_hand_after": {"after": 1},
            "reason": {"after": "order"},
            "note": {"after": None},
            "order_id": {"after": order_id},
            "actor_id": {"after": me},
        }

    async def test_pages_newest_first(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        for name in ("A", "B", "C"):
            await client.patch(f"/v1/teams/{team_id}", json={"name": name}, headers=auth)
        seen: list[Any] = []
        cursor = None
        while True:
            params = {"limit": "2", "entity_type": "team", **({"cursor": cursor} if cursor else {})}
            page = (
                await client.get(f"/v1/teams/{team_id}/audit-events", params=params, headers=auth)
            ).json()
            seen += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        names = [e["changes"]["name"]["after"] for e in seen]
        assert names == ["C", "B", "A", "Shop"]

    async def test_other_teams_are_invisible(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        other = await sign_up(client)
        other_team = (await client.post("/v1/teams", json={"name": "Other"}, headers=other)).json()
        await _product(client, other, other_team["id"])
        events = await _events(client, auth, team_id)
        assert {e["entity_id"] for e in events}.isdisjoint({other_team["id"]})
        assert all(e["action"] != "create_product" for e in events)
