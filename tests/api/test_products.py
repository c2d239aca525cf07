from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.conftest import sign_up

PRODUCT = {"sku": "TENT-1", "name": "Tent", "price": "129.00", "currency": "EUR"}


@pytest.fixture
async def product(client: httpx.AsyncClient, auth: dict[str, str], team_id: str) -> dict[str, Any]:
    response = await client.post(f"/v1/teams/{team_id}/products", json=PRODUCT, headers=auth)
    assert response.status_code == 201
    body: dict[str, Any] = response.json()
    body["etag"] = response.headers["etag"]
    return body


class TestCreateProduct:
    async def test_valid(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        response = await client.post(f"/v1/teams/{team_id}/products", json=PRODUCT, headers=auth)
        assert response.status_code == 201
        body = response.json()
        assert body["price"] == "129.00"
        assert body["status"] == "draft"
        assert body["description"] is None
        assert body["version"] == 1
        assert response.headers["location"] == f"/v1/teams/{team_id}/products/{body['id']}"

    async def test_duplicate_sku(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any]
    ) -> None:
        response = await client.post(
            f"/v1/teams/{product['team_id']}/products", json=PRODUCT, headers=auth
        )
        assert response.status_code == 409

    async def test_float_price_rejected(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        response = await client.post(
            f"/v1/teams/{team_id}/products", json={**PRODUCT, "price": 12.5}, headers=auth
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/body/price"

    async def test_other_team(self, client: httpx.AsyncClient, team_id: str) -> None:
        other = await sign_up(client)
        response = await client.post(f"/v1/teams/{team_id}/products", json=PRODUCT, headers=other)
        assert response.status_code == 404


class TestListProducts:
    async def test_pages_and_filter(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        url = f"/v1/teams/{team_id}/products"
        for i in range(5):
            status = "active" if i % 2 else "draft"
            payload = {**PRODUCT, "sku": f"SKU-{i}", "status": status}
            assert (await client.post(url, json=payload, headers=auth)).status_code == 201
        first = (await client.get(url, params={"limit": 3}, headers=auth)).json()
        second = (
            await client.get(url, params={"limit": 3, "cursor": first["next_cursor"]}, headers=auth)
        ).json()
        skus = [p["sku"] for p in first["items"] + second["items"]]
        assert skus == [f"SKU-{i}" for i in range(5)]
        assert second["next_cursor"] is None
        active = (await client.get(url, params={"status": "active"}, headers=auth)).json()
        assert [p["sku"] for p in active["items"]] == ["SKU-1", "SKU-3"]

    async def test_limit_out_of_range(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        response = await client.get(
            f"/v1/teams/{team_id}/products", params={"limit": 101}, headers=auth
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/query/limit"


class TestGetProduct:
    async def test_etag(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any]
    ) -> None:
        url = f"/v1/teams/{product['team_id']}/products/{product['id']}"
        response = await client.get(url, headers=auth)
        assert response.status_code == 200
        assert response.headers["etag"] == product["etag"]


class TestUpdateProduct:
    async def test_requires_if_match(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any]
    ) -> None:
        url = f"/v1/teams/{product['team_id']}/products/{product['id']}"
        response = await client.patch(url, json={"name": "New"}, headers=auth)
        assert response.status_code == 428

    async def test_stale_etag(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any]
    ) -> None:
        url = f"/v1/teams/{product['team_id']}/products/{product['id']}"
        headers = {**auth, "If-Match": product["etag"]}
        assert (await client.patch(url, json={"name": "A"}, headers=headers)).status_code == 200
        stale = await client.patch(url, json={"name": "B"}, headers=headers)
        assert stale.status_code == 412
        current = (await client.get(url, headers=auth)).json()
        assert current["name"] == "A"

    async def test_partial_update_and_clear(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any]
    ) -> None:
        url = f"/v1/teams/{product['team_id']}/products/{product['id']}"
        headers = {**auth, "If-Match": product["etag"]}
        response = await client.patch(
            url, json={"description": "Sleeps two", "price": "99.50"}, headers=headers
        )
        assert response.status_code == 200
        body = response.json()
        assert (body["description"], body["price"], body["name"]) == ("Sleeps two", "99.50", "Tent")
        assert body["version"] == 2
        cleared = await client.patch(
            url, json={"description": None}, headers={**auth, "If-Match": response.headers["etag"]}
        )
        assert cleared.json()["description"] is None


class TestDeleteProduct:
    async def test_soft_delete(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any]
    ) -> None:
        url = f"/v1/teams/{product['team_id']}/products/{product['id']}"
        assert (await client.delete(url, headers=auth)).status_code == 428
        deleted = await client.delete(url, headers={**auth, "If-Match": product["etag"]})
        assert deleted.status_code == 204
        assert (await client.get(url, headers=auth)).status_code == 404
        listed = (await client.get(f"/v1/teams/{product['team_id']}/products", headers=auth)).json()
        assert listed["items"] == []
