"""Rate limits as the contract declares them, through the app (memory storage per app)."""

from __future__ import annotations

import json

import httpx

from generated.spec import OPENAPI_JSON
from tests.api.conftest import PASSWORD, sign_up

DOCUMENT = json.loads(OPENAPI_JSON)
# Requests past a limit that a sliding window counter may still let through at a window
# boundary (it weighs the previous window's count by the part still overlapping).
SLACK = 2


def _declared(path: str, method: str) -> dict[str, int | str]:
    declared: dict[str, int | str] = DOCUMENT["paths"][path][method]["x-rate-limit"]
    return declared


def _problem_429(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["title"] == "Too Many Requests"


class TestHeaders:
    async def test_a_limited_operation_carries_the_fields(
        self, client: httpx.AsyncClient, auth: dict[str, str]
    ) -> None:
        default = DOCUMENT["x-rate-limit"]
        first = await client.get("/v1/me", headers=auth)
        again = await client.get("/v1/me", headers=auth)
        assert first.status_code == again.status_code == 200
        policy = f'"default-principal";q={default["limit"]};w={default["window"]}'
        assert again.headers["ratelimit-policy"] == policy
        remaining = int(again.headers["ratelimit"].split(";r=")[1].split(";")[0])
        # Sign-up's token call and team creation count too: the default is one budget.
        assert remaining < default["limit"] - 1

    async def test_an_exempt_operation_does_not(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert "ratelimit" not in response.headers
        assert "ratelimit-policy" not in response.headers


class TestCreateUser:
    async def test_per_address(self, client: httpx.AsyncClient) -> None:
        limit = int(_declared("/v1/users", "post")["limit"])
        for n in range(limit):
            created = await client.post(
                "/v1/users",
                json={"email": f"u{n}@example.com", "username": f"user{n}", "password": PASSWORD},
            )
            assert created.status_code == 201, created.text
            assert created.headers["ratelimit"].startswith('"create_user";r=')
        # A sliding window counter weighs the previous window's count by how much of it
        # still overlaps: across a window boundary it may let one or two more through.
        for n in range(SLACK + 1):
            refused = await client.post(
                "/v1/users",
                json={
                    "email": f"late{n}@example.com",
                    "username": f"late{n}",
                    "password": PASSWORD,
                },
            )
            if refused.status_code == 429:
                break
        _problem_429(refused)
        assert refused.headers["ratelimit"].startswith('"create_user";r=0;')
        # Nothing of the refused request was done.
        token = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "late@example.com", "password": PASSWORD},
        )
        assert token.status_code == 400


async def _grant(client: httpx.AsyncClient, name: str, password: str) -> httpx.Response:
    return await client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": f"{name}@example.com", "password": password},
    )


class TestCreateToken:
    async def test_failed_sign_ins_slow_the_account_down(self, client: httpx.AsyncClient) -> None:
        await sign_up(client, name="target")
        await sign_up(client, name="bystander")

        async def grant(name: str, password: str) -> httpx.Response:
            return await _grant(client, name, password)

        for _ in range(10):
            assert (await grant("target", "wrong-password")).status_code == 400
        for _ in range(SLACK):
            if (await grant("target", "wrong-password")).status_code == 429:
                break
        # Even the right password waits now; another account does not.
        _problem_429(await grant("target", PASSWORD))
        assert (await grant("bystander", PASSWORD)).status_code == 200

    async def test_an_unknown_email_is_throttled_alike(self, client: httpx.AsyncClient) -> None:
        # The refusal reveals nothing about which emails have accounts.
        for _ in range(10):
            assert (await _grant(client, "nobody", "wrong-password")).status_code == 400
        for _ in range(SLACK + 1):
            refused = await _grant(client, "nobody", "wrong-password")
            if refused.status_code == 429:
                break
        _problem_429(refused)
        assert "account" in refused.json()["detail"]

    async def test_per_address(self, client: httpx.AsyncClient) -> None:
        limit = int(_declared("/v1/auth/token", "post")["limit"])
        for n in range(limit):
            assert (await _grant(client, f"someone{n}", "wrong-password")).status_code == 400
        for n in range(SLACK + 1):
            refused = await _grant(client, f"someone-else{n}", "wrong-password")
            if refused.status_code == 429:
                break
        _problem_429(refused)
