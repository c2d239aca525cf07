"""Tokens of an external OpenID Connect provider (a fake one on loopback), through the app."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.kit.db import unit_of_work
from impl.models import User
from impl.settings import Settings
from tests.api.conftest import PASSWORD, sign_up
from tests.fakes.oidc import (
    AUDIENCE,
    AUTHORIZED_PARTY,
    FakeProvider,
    KeyKind,
    refused_tokens,
    serve_provider,
)

CHALLENGE = 'Bearer error="invalid_token"'


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with serve_provider() as provider:
        yield provider


@pytest.fixture
def settings(settings: Settings, provider: FakeProvider) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_audience": AUDIENCE,
            "oidc_authorized_parties": (AUTHORIZED_PARTY,),
            "oidc_fetch_timeout_seconds": 1.0,
        }
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("kind", ["RSA", "EC"])
async def test_a_first_token_signs_in_a_new_account(
    client: httpx.AsyncClient, provider: FakeProvider, kind: KeyKind
) -> None:
    token = provider.token("user_1", kind=kind, email="ada@example.com", email_verified=True)

    response = await client.get("/v1/me", headers=_bearer(token))

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "ada@example.com"
    assert response.json()["username"].startswith("oidc-")


async def test_later_tokens_of_the_subject_are_the_same_account(
    client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    first = await client.get("/v1/me", headers=_bearer(provider.token("user_1", kind="RSA")))
    second = await client.get("/v1/me", headers=_bearer(provider.token("user_1", kind="EC")))
    other = await client.get("/v1/me", headers=_bearer(provider.token("user_2")))

    assert first.status_code == second.status_code == other.status_code == 200
    assert first.json()["id"] == second.json()["id"] != other.json()["id"]


async def test_concurrent_first_requests_make_one_account_with_one_fetch(
    client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    tokens = [provider.token("user_1", jti=str(n)) for n in range(6)]

    responses = await asyncio.gather(*(client.get("/v1/me", headers=_bearer(t)) for t in tokens))

    assert [response.status_code for response in responses] == [200] * 6
    assert len({response.json()["id"] for response in responses}) == 1
    assert provider.jwks_fetches == 1


async def test_a_provisioned_account_uses_the_api(
    client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    headers = _bearer(provider.token("user_1"))
    team = await client.post("/v1/teams", json={"name": "Shop"}, headers=headers)
    assert team.status_code == 201, team.text

    listed = await client.get(f"/v1/teams/{team.json()['id']}/products", headers=headers)
    assert listed.status_code == 200


async def test_a_provisioned_account_has_no_password(
    client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    token = provider.token("user_1", email="ada@example.com", email_verified=True)
    assert (await client.get("/v1/me", headers=_bearer(token))).status_code == 200

    for password in ("", "!external", PASSWORD):
        response = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "ada@example.com", "password": password},
        )
        assert response.status_code in {400, 401, 422}, response.text


async def test_our_own_tokens_still_work(client: httpx.AsyncClient, provider: FakeProvider) -> None:
    headers = await sign_up(client)

    assert (await client.get("/v1/me", headers=headers)).status_code == 200
    assert provider.jwks_fetches == 0


REFUSED = [
    "hs256-with-public-key",
    "alg-none",
    "wrong-issuer",
    "wrong-audience",
    "azp-not-allowed",
    "expired",
    "issued-in-the-future",
    "signed-by-another-key",
    "unknown-kid",
]


@pytest.mark.parametrize("case", REFUSED)
async def test_refused_tokens_are_401_problems(
    client: httpx.AsyncClient, provider: FakeProvider, case: str
) -> None:
    response = await client.get("/v1/me", headers=_bearer(refused_tokens(provider)[case]))

    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == CHALLENGE


@pytest.mark.parametrize("fault", ["down", "error", "malformed"])
async def test_without_keys_tokens_are_401_not_500(
    client: httpx.AsyncClient, provider: FakeProvider, fault: str
) -> None:
    token = provider.token("user_1")
    if fault == "down":
        provider.go_down()
    else:
        provider.fault = fault  # type: ignore[assignment]

    response = await client.get("/v1/me", headers=_bearer(token))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE


async def test_cached_keys_verify_while_the_provider_is_down(
    client: httpx.AsyncClient, provider: FakeProvider
) -> None:
    assert (await client.get("/v1/me", headers=_bearer(provider.token("u1")))).status_code == 200
    token = provider.token("u2", kind="EC")
    provider.go_down()

    response = await client.get("/v1/me", headers=_bearer(token))

    assert response.status_code == 200
    assert provider.jwks_fetches == 1


async def test_a_deactivated_account_stops_at_once(
    client: httpx.AsyncClient,
    provider: FakeProvider,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    headers = _bearer(provider.token("user_1"))
    me = await client.get("/v1/me", headers=headers)
    admin = await sign_up(client, name="root")
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(User).where(User.email == "root@example.com").values(is_admin=True)
        )

    deactivated = await client.post(f"/v1/admin/users/{me.json()['id']}/deactivate", headers=admin)
    assert deactivated.status_code == 200, deactivated.text

    response = await client.get("/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
