"""A list's cursor is bound to that list: its operation, path, filters and caller.

Replayed anywhere else it is 400, on every list operation of the contract.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from generated.spec import OPENAPI_JSON
from impl.kit.db import unit_of_work
from impl.models import User
from specfirst.document import Document
from tests.api.conftest import sign_up
from tests.factories import create_dead_letter

ANOTHER_LIST = "This cursor belongs to another list"


@dataclass(frozen=True)
class Shop:
    owner: dict[str, str]
    member: dict[str, str]
    team: str
    other_team: str
    product: str
    other_product: str


async def _post(client: httpx.AsyncClient, url: str, auth: dict[str, str], body: object) -> str:
    response = await client.post(url, json=body, headers=auth)
    assert response.status_code in (200, 201), response.text
    created: str = response.json()["id"]
    return created


@pytest.fixture
async def shop(client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> Shop:
    """Two of everything every list lists, so each has a second page."""
    owner = await sign_up(client, name="owner")
    member = await sign_up(client, name="member")
    await sign_up(client, name="third")
    async with sessionmaker() as session:
        await session.execute(update(User).values(is_admin=True))
        await session.commit()
    async with unit_of_work(sessionmaker) as session:
        for _ in range(2):
            await create_dead_letter(session)
    teams = [await _post(client, "/v1/teams", owner, {"name": n}) for n in ("A", "B")]
    for team in teams:
        for email in ("member@example.com", "third@example.com"):
            added = await client.post(
                f"/v1/teams/{team}/members", json={"email": email, "role": "admin"}, headers=owner
            )
            assert added.status_code == 201, added.text
    products = []
    for team in teams:
        for index in range(2):
            product = await _post(
                client,
                f"/v1/teams/{team}/products",
                owner,
                {
                    "sku": f"SKU-{index}",
                    "name": f"Thing {index}",
                    "price": "5.00",
                    "currency": "EUR",
                    "status": "active",
                    "tags": ["t"],
                },
            )
            for delta in (5, 5):
                await _post(
                    client,
                    f"/v1/teams/{team}/products/{product}/stock/movements",
                    owner,
                    {"delta": delta, "reason": "receive"},
                )
            products.append(product)
    for index in range(2):
        order = await client.post(
            f"/v1/teams/{teams[0]}/orders",
            json={
                "customer_email": "buyer@example.com",
                "lines": [{"product_id": products[index], "quantity": 1}],
            },
            headers={**owner, "Idempotency-Key": str(uuid.uuid4())},
        )
        assert order.status_code == 201, order.text
    return Shop(owner, member, teams[0], teams[1], products[0], products[2])


def _list_operations() -> dict[str, str]:
    """Every operation of the contract that takes a cursor: operationId -> path template."""
    document = json.loads(OPENAPI_JSON)
    found = {}
    for op in Document(document).operations():
        parameters = [*op.parameters, *op.operation.get("parameters", [])]
        if any("Cursor" in str(p) or p.get("name") == "cursor" for p in parameters):
            found[op.operation["operationId"]] = op.path
    return found


def _url(path: str, shop: Shop, *, team: str | None = None, product: str | None = None) -> str:
    return path.format(team_id=team or shop.team, product_id=product or shop.product)


async def _cursor(client: httpx.AsyncClient, url: str, auth: dict[str, str]) -> str:
    response = await client.get(url, params={"limit": 1}, headers=auth)
    assert response.status_code == 200, response.text
    cursor: str | None = response.json()["next_cursor"]
    assert cursor is not None, f"{url} has one page only"
    return cursor


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"].startswith(ANOTHER_LIST)


async def test_every_list_refuses_every_other_lists_cursor(
    client: httpx.AsyncClient, shop: Shop
) -> None:
    lists = _list_operations()
    assert set(lists) == {
        "list_users",
        "list_teams",
        "list_members",
        "list_products",
        "list_stock_movements",
        "list_audit_events",
        "list_orders",
        "list_dead_letters",
    }
    cursors = {
        op: await _cursor(client, _url(path, shop), shop.owner) for op, path in lists.items()
    }
    for operation, path in lists.items():
        url = _url(path, shop)
        # Its own cursor leads on, with any page size.
        for limit in (1, 5):
            own = await client.get(
                url, params={"limit": limit, "cursor": cursors[operation]}, headers=shop.owner
            )
            assert own.status_code == 200, (operation, own.text)
        for other, cursor in cursors.items():
            if other != operation:
                _refused(await client.get(url, params={"cursor": cursor}, headers=shop.owner))


@pytest.mark.parametrize(
    "path",
    [
        "/v1/teams/{team_id}/members",
        "/v1/teams/{team_id}/products",
        "/v1/teams/{team_id}/audit-events",
        "/v1/teams/{team_id}/products/{product_id}/stock/movements",
    ],
)
async def test_a_cursor_of_another_team_or_product(
    client: httpx.AsyncClient, shop: Shop, path: str
) -> None:
    cursor = await _cursor(client, _url(path, shop), shop.owner)
    other = _url(path, shop, team=shop.other_team, product=shop.other_product)
    _refused(await client.get(other, params={"cursor": cursor}, headers=shop.owner))


@pytest.mark.parametrize(
    ("path", "first", "then"),
    [
        ("/v1/teams/{team_id}/orders", {"status": "pending"}, {"status": "paid"}),
        ("/v1/teams/{team_id}/orders", {}, {"customer_email": "buyer@example.com"}),
        ("/v1/teams/{team_id}/products", {"sort": "-created_at"}, {"sort": "created_at"}),
        ("/v1/teams/{team_id}/products", {"tag": "t"}, {}),
        ("/v1/teams/{team_id}/audit-events", {}, {"entity_type": "product"}),
        ("/v1/admin/users", {}, {"is_active": "true"}),
        ("/v1/admin/dead-letters", {}, {"retried": "false"}),
    ],
)
async def test_a_cursor_of_other_filters(
    client: httpx.AsyncClient,
    shop: Shop,
    path: str,
    first: dict[str, str],
    then: dict[str, str],
) -> None:
    url = _url(path, shop)
    response = await client.get(url, params={**first, "limit": 1}, headers=shop.owner)
    cursor = response.json()["next_cursor"]
    assert cursor is not None
    again = await client.get(url, params={**first, "cursor": cursor}, headers=shop.owner)
    assert again.status_code == 200
    _refused(await client.get(url, params={**then, "cursor": cursor}, headers=shop.owner))


async def test_a_cursor_of_another_caller(client: httpx.AsyncClient, shop: Shop) -> None:
    for path in ("/v1/teams/{team_id}/products", "/v1/teams", "/v1/admin/users"):
        url = _url(path, shop)
        cursor = await _cursor(client, url, shop.owner)
        _refused(await client.get(url, params={"cursor": cursor}, headers=shop.member))
        # The member's own cursor of the same list works for them.
        theirs = await _cursor(client, url, shop.member)
        response = await client.get(url, params={"cursor": theirs}, headers=shop.member)
        assert response.status_code == 200
