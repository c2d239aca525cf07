from __future__ import annotations

import httpx
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.kit.db import unit_of_work
from impl.models import User
from tests.api.conftest import PASSWORD, sign_up


async def _admin(
    client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], name: str
) -> dict[str, str]:
    auth = await sign_up(client, name=name)
    async with unit_of_work(sessionmaker) as session:
        await session.execute(
            update(User).where(User.email == f"{name}@example.com").values(is_admin=True)
        )
    return auth


async def _user_id(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    user_id: str = (await client.get("/v1/me", headers=auth)).json()["id"]
    return user_id


class TestListUsers:
    async def test_not_an_admin(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        response = await client.get("/v1/admin/users", headers=auth)
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"

    async def test_pages_and_filter(
        self, client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        admin = await _admin(client, sessionmaker, "boss")
        victim = await sign_up(client, name="gone")
        for name in ("aa1", "aa2", "aa3"):
            await sign_up(client, name=name)
        await client.post(
            f"/v1/admin/users/{await _user_id(client, victim)}/deactivate", headers=admin
        )

        seen: list[str] = []
        cursor: str | None = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/admin/users", params=params, headers=admin)).json()
            seen += [item["username"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == ["boss", "gone", "aa1", "aa2", "aa3"]

        inactive = await client.get("/v1/admin/users?is_active=false", headers=admin)
        assert [item["username"] for item in inactive.json()["items"]] == ["gone"]
        assert inactive.json()["items"][0]["deactivated_at"] is not None


class TestDeactivateUser:
    async def test_tokens_stop_working(
        self, client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        admin = await _admin(client, sessionmaker, "root")
        await sign_up(client, name="target")
        token = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "target@example.com", "password": PASSWORD},
        )
        issued = token.json()
        target = {"Authorization": f"Bearer {issued['access_token']}"}
        target_id = await _user_id(client, target)

        response = await client.post(f"/v1/admin/users/{target_id}/deactivate", headers=admin)

        assert response.status_code == 200
        assert response.json()["is_active"] is False
        assert (await client.get("/v1/me", headers=target)).status_code == 401
        refresh = await client.post(
            "/v1/auth/refresh", json={"refresh_token": issued["refresh_token"]}
        )
        assert refresh.status_code == 400
        sign_in = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "target@example.com", "password": PASSWORD},
        )
        assert sign_in.status_code == 400
        again = await client.post(f"/v1/admin/users/{target_id}/deactivate", headers=admin)
        assert again.status_code == 200
        assert again.json()["deactivated_at"] == response.json()["deactivated_at"]

    async def test_not_an_admin(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        other = await sign_up(client)
        response = await client.post(
            f"/v1/admin/users/{await _user_id(client, other)}/deactivate", headers=auth
        )
        assert response.status_code == 403
        assert (await client.get("/v1/me", headers=other)).status_code == 200

    async def test_self(
        self, client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        admin = await _admin(client, sessionmaker, "selfish")
        response = await client.post(
            f"/v1/admin/users/{await _user_id(client, admin)}/deactivate", headers=admin
        )
        assert response.status_code == 409

    async def test_unknown(
        self, client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        admin = await _admin(client, sessionmaker, "looker")
        response = await client.post(
            "/v1/admin/users/0192f49e-2b1a-7d3c-8e5f-1a2b3c4d5e6f/deactivate", headers=admin
        )
        assert response.status_code == 404
