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

    # The product is read in the caller query's round trip (impl.context.ReadAhead): what it
    # finds reaches no one the access rules refuse.
    async def test_outsider_learns_nothing(
        self, client: httpx.AsyncClient, product: dict[str, Any]
    ) -> None:
        outsider = await sign_up(client)
        url = f"/v1/teams/{product['team_id']}/products/{product['id']}"
        response = await client.get(url, headers=outsider)
        assert response.status_code == 404
        assert response.json()["detail"] == "Team not found"
        assert "etag" not in response.headers

    async def test_through_another_team(
        self, client: httpx.AsyncClient, product: dict[str, Any]
    ) -> None:
        other = await sign_up(client)
        team = (await client.post("/v1/teams", json={"name": "Other"}, headers=other)).json()
        url = f"/v1/teams/{team['id']}/products/{product['id']}"
        response = await client.get(url, headers=other)
        assert response.status_code == 404
        assert response.json()["detail"] == "Product not found"

    async def test_deleted_product(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any]
    ) -> None:
        url = f"/v1/teams/{product['team_id']}/products/{product['id']}"
        deleted = await client.delete(url, headers={**auth, "If-Match": product["etag"]})
        assert deleted.status_code == 204
        response = await client.get(url, headers=auth)
        assert response.status_code == 404
        assert response.json()["detail"] == "Product not found"


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


async def _catalog(client: httpx.AsyncClient, auth: dict[str, str], team_id: str) -> list[str]:
    """Five products with distinct names, prices and tags; returns their ids in creation order."""
    rows = [
        ("TENT-1", "Tent", "189.00", ["camping", "outdoor"], "active"),
        ("MUG-1", "Mug 100%", "12.50", ["kitchen"], "active"),
        ("STOVE-1", "Camp stove", "45.00", ["camping"], "draft"),
        ("BAG-1", "Sleeping bag", "99.99", ["camping"], "active"),
        ("CUP-1", "Cup", "3.00", [], "archived"),
    ]
    ids = []
    for sku, name, price, tags, status in rows:
        response = await client.post(
            f"/v1/teams/{team_id}/products",
            json={
                "sku": sku,
                "name": name,
                "price": price,
                "currency": "EUR",
                "tags": tags,
                "status": status,
            },
            headers=auth,
        )
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def _names(
    client: httpx.AsyncClient, auth: dict[str, str], team_id: str, **params: str
) -> list[str]:
    """Every page of the list, following cursors two items at a time."""
    names: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2", **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(f"/v1/teams/{team_id}/products", params=query, headers=auth)
        assert response.status_code == 200, response.text
        names += [p["name"] for p in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return names


class TestListFiltersAndSort:
    @pytest.mark.parametrize(
        ("sort", "expected"),
        [
            ("name", ["Camp stove", "Cup", "Mug 100%", "Sleeping bag", "Tent"]),
            ("-price", ["Tent", "Sleeping bag", "Camp stove", "Mug 100%", "Cup"]),
            ("price", ["Cup", "Mug 100%", "Camp stove", "Sleeping bag", "Tent"]),
            ("-created_at", ["Cup", "Sleeping bag", "Camp stove", "Mug 100%", "Tent"]),
        ],
    )
    async def test_sorts_page_without_gaps(
        self,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        team_id: str,
        sort: str,
        expected: list[str],
    ) -> None:
        await _catalog(client, auth, team_id)
        assert await _names(client, auth, team_id, sort=sort) == expected

    @pytest.mark.parametrize(
        ("params", "expected"),
        [
            ({"tag": "camping"}, ["Tent", "Camp stove", "Sleeping bag"]),
            ({"tag": "camping", "status": "active"}, ["Tent", "Sleeping bag"]),
            (
                {"min_price": "12.50", "max_price": "99.99"},
                ["Mug 100%", "Camp stove", "Sleeping bag"],
            ),
            ({"q": "CAMP"}, ["Camp stove"]),
            ({"q": "e-1"}, ["Camp stove"]),  # its SKU, STOVE-1
            ({"q": "%"}, ["Mug 100%"]),  # LIKE wildcards are matched literally
            ({"q": "_"}, []),
            ({"q": "/"}, []),  # nor is the pattern's escape character
            ({"created_after": "2999-01-01T00:00:00Z"}, []),
            ({"created_before": "2999-01-01T00:00:00Z", "tag": "kitchen"}, ["Mug 100%"]),
        ],
    )
    async def test_filters(
        self,
        client: httpx.AsyncClient,
        auth: dict[str, str],
        team_id: str,
        params: dict[str, str],
        expected: list[str],
    ) -> None:
        await _catalog(client, auth, team_id)
        assert await _names(client, auth, team_id, **params) == expected

    async def test_cursor_of_another_sort(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        await _catalog(client, auth, team_id)
        first = await client.get(
            f"/v1/teams/{team_id}/products", params={"limit": "1", "sort": "name"}, headers=auth
        )
        cursor = first.json()["next_cursor"]
        response = await client.get(
            f"/v1/teams/{team_id}/products",
            params={"cursor": cursor, "sort": "price"},
            headers=auth,
        )
        assert response.status_code == 400


class TestTags:
    async def test_update_and_filter(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any], team_id: str
    ) -> None:
        url = f"/v1/teams/{team_id}/products/{product['id']}"
        etag = (await client.get(url, headers=auth)).headers["etag"]
        updated = await client.patch(
            url, json={"tags": ["sale", "new"]}, headers={**auth, "If-Match": etag}
        )
        assert updated.status_code == 200
        assert updated.json()["tags"] == ["sale", "new"]
        tagged = await client.get(f"/v1/teams/{team_id}/products?tag=sale", headers=auth)
        assert [p["id"] for p in tagged.json()["items"]] == [product["id"]]

    async def test_invalid(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        # Refused by the generated layer, each error pointing where the contract is broken
        # (repeated tags: uniqueItems, at the array).
        cases = [
            (["Bad Tag"], "/body/tags/0", "string_pattern_mismatch"),
            (["a", "a"], "/body/tags", "unique_items"),
            ([f"t{i}" for i in range(21)], "/body/tags", "too_long"),
        ]
        for tags, pointer, code in cases:
            response = await client.post(
                f"/v1/teams/{team_id}/products",
                json={"sku": "T-1", "name": "T", "price": "1.00", "currency": "EUR", "tags": tags},
                headers=auth,
            )
            assert response.status_code == 422, tags
            errors = [(e["pointer"], e["code"]) for e in response.json()["errors"]]
            assert (pointer, code) in errors, errors


class TestRestoreProduct:
    async def test_restore(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any], team_id: str
    ) -> None:
        url = f"/v1/teams/{team_id}/products/{product['id']}"
        etag = (await client.get(url, headers=auth)).headers["etag"]
        assert (await client.delete(url, headers={**auth, "If-Match": etag})).status_code == 204
        assert (await client.get(url, headers=auth)).status_code == 404

        restored = await client.post(f"{url}/restore", headers=auth)

        assert restored.status_code == 200
        assert restored.json()["sku"] == product["sku"]
        assert (await client.get(url, headers=auth)).status_code == 200
        assert (await client.post(f"{url}/restore", headers=auth)).status_code == 409

    async def test_sku_taken_meanwhile(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any], team_id: str
    ) -> None:
        url = f"/v1/teams/{team_id}/products/{product['id']}"
        etag = (await client.get(url, headers=auth)).headers["etag"]
        await client.delete(url, headers={**auth, "If-Match": etag})
        again = await client.post(
            f"/v1/teams/{team_id}/products",
            json={"sku": product["sku"], "name": "Again", "price": "1.00", "currency": "EUR"},
            headers=auth,
        )
        assert again.status_code == 201
        assert (await client.post(f"{url}/restore", headers=auth)).status_code == 409

    async def test_members_cannot_restore(
        self, client: httpx.AsyncClient, auth: dict[str, str], product: dict[str, Any], team_id: str
    ) -> None:
        member = await sign_up(client, name="restorer")
        await client.post(
            f"/v1/teams/{team_id}/members",
            json={"email": "restorer@example.com", "role": "member"},
            headers=auth,
        )
        url = f"/v1/teams/{team_id}/products/{product['id']}/restore"
        assert (await client.post(url, headers=member)).status_code == 403
