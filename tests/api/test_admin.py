from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.kit.clock import utcnow
from impl.kit.db import unit_of_work
from impl.models import User
from tests.api.conftest import PASSWORD, sign_up
from tests.factories import create_dead_letter
from tests.polling import until


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


class TestDeadLetters:
    async def test_not_an_admin(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        listed = await client.get("/v1/admin/dead-letters", headers=auth)
        retried = await client.post(f"/v1/admin/dead-letters/{uuid.uuid4()}/retry", headers=auth)
        assert (listed.status_code, retried.status_code) == (403, 403)
        assert retried.headers["content-type"] == "application/problem+json"

    async def test_pages_newest_first_and_filter(
        self, client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        admin = await _admin(client, sessionmaker, "ops")
        now = utcnow()
        async with unit_of_work(sessionmaker) as session:
            rows = [
                await create_dead_letter(
                    session, failed_at=now - timedelta(minutes=n), retried=n == 2
                )
                for n in range(5)
            ]
        newest_first = [str(row.id) for row in rows]

        seen: list[str] = []
        cursor: str | None = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            response = await client.get("/v1/admin/dead-letters", params=params, headers=admin)
            assert response.status_code == 200, response.text
            seen += [item["id"] for item in response.json()["items"]]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == newest_first

        waiting = await client.get("/v1/admin/dead-letters?retried=false", headers=admin)
        assert [item["id"] for item in waiting.json()["items"]] == [
            id_ for n, id_ in enumerate(newest_first) if n != 2
        ]
        done = (await client.get("/v1/admin/dead-letters?retried=true", headers=admin)).json()
        [item] = done["items"]
        assert item["id"] == newest_first[2]
        assert item["retry_job_id"] is not None
        # A cursor of the unfiltered list is not one of the filtered list.
        first = await client.get("/v1/admin/dead-letters?limit=1", headers=admin)
        foreign = await client.get(
            "/v1/admin/dead-letters",
            params={"retried": "false", "cursor": first.json()["next_cursor"]},
            headers=admin,
        )
        assert foreign.status_code == 400

    async def test_retry_runs_the_job_again_once(
        self,
        client: httpx.AsyncClient,
        sessionmaker: async_sessionmaker[AsyncSession],
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        admin = await _admin(client, sessionmaker, "fixer")
        async with unit_of_work(sessionmaker) as session:
            dead = await create_dead_letter(session, task="housekeeping")
        path = f"/v1/admin/dead-letters/{dead.id}/retry"

        with caplog.at_level(logging.INFO, logger="storefront.jobs"):
            response = await client.post(path, headers=admin)
            assert response.status_code == 202, response.text
            body = response.json()
            job_id = body["retry_job_id"]
            assert (body["id"], body["job_id"]) == (str(dead.id), dead.job_id)
            assert body["retried_at"] is not None
            # The new job runs (in process here; on a worker with Redis).
            await until(lambda: _logged(caplog, f"job housekeeping {job_id} done"))

        again = await client.post(path, headers=admin)
        assert again.status_code == 409
        assert job_id in again.json()["detail"]
        listed = (await client.get("/v1/admin/dead-letters", headers=admin)).json()
        assert listed["items"][0]["retry_job_id"] == job_id

    async def test_unknown_gone_and_malformed(
        self, client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        admin = await _admin(client, sessionmaker, "checker")
        async with unit_of_work(sessionmaker) as session:
            retired = await create_dead_letter(session, task="a-task-this-version-lacks")
        missing = await client.post(f"/v1/admin/dead-letters/{uuid.uuid4()}/retry", headers=admin)
        assert missing.status_code == 404
        gone = await client.post(f"/v1/admin/dead-letters/{retired.id}/retry", headers=admin)
        assert gone.status_code == 409
        assert "no longer runs" in gone.json()["detail"]
        malformed = await client.post("/v1/admin/dead-letters/not-a-uuid/retry", headers=admin)
        assert malformed.status_code == 422
        # Refused retries change nothing.
        [row] = (await client.get("/v1/admin/dead-letters", headers=admin)).json()["items"]
        assert row["retried_at"] is None


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)
