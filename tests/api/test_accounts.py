from __future__ import annotations

import httpx

from tests.api.conftest import PASSWORD, sign_up


class TestCreateUser:
    async def test_valid(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/users",
            json={"email": "Ada@Example.com", "username": "ada", "password": PASSWORD},
        )
        assert response.status_code == 201
        body = response.json()
        assert body["email"] == "ada@example.com"
        assert body["username"] == "ada"
        assert "password" not in body
        assert response.headers["location"] == "/v1/me"

    async def test_duplicate_email(self, client: httpx.AsyncClient) -> None:
        payload = {"email": "dup@example.com", "username": "dup1", "password": PASSWORD}
        assert (await client.post("/v1/users", json=payload)).status_code == 201
        again = await client.post("/v1/users", json={**payload, "username": "dup2"})
        assert again.status_code == 409
        assert again.headers["content-type"] == "application/problem+json"
        assert "email" in again.json()["detail"]

    async def test_invalid_fields_point_at_each(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/v1/users", json={"email": "not-an-email", "username": "A!", "password": "short"}
        )
        assert response.status_code == 422
        pointers = {e["pointer"] for e in response.json()["errors"]}
        assert pointers == {"/body/email", "/body/username", "/body/password"}


class TestCreateToken:
    async def test_valid(self, client: httpx.AsyncClient) -> None:
        await sign_up(client, name="tok")
        response = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "tok@example.com", "password": PASSWORD},
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        body = response.json()
        assert body["token_type"] == "bearer"
        assert body["expires_in"] > 0
        assert body["refresh_token"]

    async def test_wrong_password(self, client: httpx.AsyncClient) -> None:
        await sign_up(client, name="wrong")
        response = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "wrong@example.com", "password": "nope"},
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"

    async def test_json_body_is_unsupported(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/auth/token", json={"grant_type": "password"})
        assert response.status_code == 415
        assert response.headers["accept"] == "application/x-www-form-urlencoded"


class TestGetMe:
    async def test_anonymous(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/me")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.headers["content-type"] == "application/problem+json"

    async def test_garbage_token(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/me", headers={"Authorization": "Bearer not.a.jwt"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")

    async def test_valid(self, client: httpx.AsyncClient) -> None:
        auth = await sign_up(client, name="meme")
        response = await client.get("/v1/me", headers=auth)
        assert response.status_code == 200
        assert response.json()["username"] == "meme"
