"""How a script uses the generated Python client (`just clients`, package `storefront_client`).

Sign up, get a token, create a team and a product, read it back with its ETag, update it with
If-Match (and see a stale tag refused), list the team's products. tests/clients runs `flow`
against the real server on a loopback port and type-checks this file with mypy --strict
against the freshly generated client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from storefront_client import AuthenticatedClient, Client
from storefront_client.api.auth import create_token
from storefront_client.api.products import (
    create_product,
    get_product,
    list_products,
    update_product,
)
from storefront_client.api.teams import create_team
from storefront_client.api.users import create_user
from storefront_client.models import (
    Problem,
    Product,
    ProductCreate,
    ProductStatus,
    ProductUpdate,
    Team,
    TeamCreate,
    Token,
    TokenRequest,
    TokenRequestGrantType,
    User,
    UserCreate,
)
from storefront_client.types import Response

T = TypeVar("T")


@dataclass(frozen=True)
class Flow:
    """What the server answered at each step."""

    user: User
    token: Token
    team: Team
    created: Product
    read: Product
    etag: str
    updated: Product
    stale_update: Problem
    listed: list[Product]


def _expect(response: Response[Problem | T], status: int) -> T:
    """The parsed body of a success, or an error naming the problem the server returned."""
    parsed = response.parsed
    if response.status_code != status or parsed is None or isinstance(parsed, Problem):
        raise RuntimeError(f"expected {status}, got {response.status_code}: {response.content!r}")
    return parsed


def flow(base_url: str, *, email: str, password: str) -> Flow:
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    user = _expect(
        create_user.sync_detailed(
            client=anonymous,
            body=UserCreate(email=email, username=email.split("@")[0], password=password),
        ),
        201,
    )
    token = _expect(
        create_token.sync_detailed(
            client=anonymous,
            body=TokenRequest(
                grant_type=TokenRequestGrantType.PASSWORD, username=email, password=password
            ),
        ),
        200,
    )
    client = AuthenticatedClient(
        base_url=base_url, token=token.access_token, raise_on_unexpected_status=True
    )
    team = _expect(create_team.sync_detailed(client=client, body=TeamCreate(name="Acme")), 201)
    created = _expect(
        create_product.sync_detailed(
            team.id,
            client=client,
            body=ProductCreate(sku="TENT-1", name="Tent", price="129.00", currency="EUR"),
        ),
        201,
    )
    read = get_product.sync_detailed(team.id, created.id, client=client)
    etag = read.headers["ETag"]
    updated = _expect(
        update_product.sync_detailed(
            team.id,
            created.id,
            client=client,
            if_match=etag,
            body=ProductUpdate(price="119.00", status=ProductStatus.ACTIVE),
        ),
        200,
    )
    stale = update_product.sync_detailed(
        team.id, created.id, client=client, if_match=etag, body=ProductUpdate(price="99.00")
    )
    assert isinstance(stale.parsed, Problem), stale.content
    page = _expect(
        list_products.sync_detailed(team.id, client=client, status=ProductStatus.ACTIVE), 200
    )
    return Flow(
        user=user,
        token=token,
        team=team,
        created=created,
        read=_expect(read, 200),
        etag=etag,
        updated=updated,
        stale_update=stale.parsed,
        listed=page.items,
    )
