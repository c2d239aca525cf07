from __future__ import annotations

import httpx
import pytest

from tests.api.conftest import sign_up


@pytest.fixture
async def product_url(client: httpx.AsyncClient, auth: dict[str, str], team_id: str) -> str:
    response = await client.post(
        f"/v1/teams/{team_id}/products",
        json={"sku": "MUG-1", "name": "Mug", "price": "12.50", "currency": "EUR"},
        headers=auth,
    )
    assert response.status_code == 201
    return f"/v1/teams/{team_id}/products/{response.json()['id']}"


class TestGetStock:
    async def test_new_product_is_empty(
        self, client: httpx.AsyncClient, auth: dict[str, str], product_url: str
    ) -> None:
        response = await client.get(f"{product_url}/stock", headers=auth)
        assert response.status_code == 200
        assert response.json()["on_hand"] == 0

    async def test_unknown_product(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        url = f"/v1/teams/{team_id}/products/0192f4a3-5d6e-7f80-a1b2-c3d4e5f60718/stock"
        assert (await client.get(url, headers=auth)).status_code == 404


class TestAdjustStock:
    async def test_ledger_adds_up(
        self, client: httpx.AsyncClient, auth: dict[str, str], product_url: str
    ) -> None:
        deltas = [(24, "receive"), (-2, "damage"), (3, "correction")]
        for delta, reason in deltas:
            response = await client.post(
                f"{product_url}/stock/movements",
                json={"delta": delta, "reason": reason, "note": "n"},
                headers=auth,
            )
            assert response.status_code == 201
        assert response.json()["on_hand_after"] == 25
        ledger = (await client.get(f"{product_url}/stock/movements", headers=auth)).json()
        assert [(m["delta"], m["reason"]) for m in ledger["items"]] == deltas
        stock = (await client.get(f"{product_url}/stock", headers=auth)).json()
        assert stock["on_hand"] == sum(m["delta"] for m in ledger["items"]) == 25

    async def test_never_below_zero(
        self, client: httpx.AsyncClient, auth: dict[str, str], product_url: str
    ) -> None:
        await client.post(
            f"{product_url}/stock/movements", json={"delta": 5, "reason": "receive"}, headers=auth
        )
        response = await client.post(
            f"{product_url}/stock/movements", json={"delta": -6, "reason": "damage"}, headers=auth
        )
        assert response.status_code == 409
        assert response.json()["on_hand"] == 5
        ledger = (await client.get(f"{product_url}/stock/movements", headers=auth)).json()
        assert len(ledger["items"]) == 1

    @pytest.mark.parametrize(
        "body", [{"delta": 0, "reason": "receive"}, {"delta": 1, "reason": "order"}]
    )
    async def test_invalid(
        self,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        product_url: str,
        body: dict[str, object],
    ) -> None:
        response = await client.post(f"{product_url}/stock/movements", json=body, headers=auth)
        assert response.status_code == 422

    async def test_viewer_cannot_adjust(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str, product_url: str
    ) -> None:
        viewer = await sign_up(client, name="stockviewer")
        await client.post(
            f"/v1/teams/{team_id}/members",
            json={"email": "stockviewer@example.com", "role": "viewer"},
            headers=auth,
        )
        response = await client.post(
            f"{product_url}/stock/movements", json={"delta": 1, "reason": "receive"}, headers=viewer
        )
        assert response.status_code == 403
        assert (await client.get(f"{product_url}/stock", headers=viewer)).status_code == 200
