from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette

from impl.app import create_app
from impl.settings import Settings

_emails = itertools.count(1)
PASSWORD = "a-long-enough-password"


@pytest.fixture
async def app(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Starlette]:
    # Response validation on: a handler raising an undocumented status fails the test.
    application = create_app(settings, validate_responses=True)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def sign_up(client: httpx.AsyncClient, *, name: str | None = None) -> dict[str, str]:
    """Sign a new user up through the API; returns Authorization headers for it."""
    name = name or f"user{next(_emails)}"
    response = await client.post(
        "/v1/users", json={"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    token = await client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": f"{name}@example.com", "password": PASSWORD},
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


@pytest.fixture
async def auth(client: httpx.AsyncClient) -> dict[str, str]:
    return await sign_up(client)


@pytest.fixture
async def team_id(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    response = await client.post("/v1/teams", json={"name": "Shop"}, headers=auth)
    assert response.status_code == 201
    team: str = response.json()["id"]
    return team
