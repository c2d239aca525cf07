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


def _bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def _tokens(client: httpx.AsyncClient, name: str) -> dict[str, str]:
    await sign_up(client, name=name)
    response = await client.post(
        "/v1/auth/token",
        data={"grant_type": "password", "username": f"{name}@example.com", "password": PASSWORD},
    )
    assert response.status_code == 200
    tokens: dict[str, str] = response.json()
    return tokens


class TestRefreshToken:
    async def test_rotates(self, client: httpx.AsyncClient) -> None:
        first = await _tokens(client, "rot")
        response = await client.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        second = response.json()
        assert second["refresh_token"] != first["refresh_token"]
        me = await client.get(
            "/v1/me", headers={"Authorization": f"Bearer {second['access_token']}"}
        )
        assert me.status_code == 200

    async def test_reuse_revokes_the_family(self, client: httpx.AsyncClient) -> None:
        first = await _tokens(client, "reuse")
        rotated = await client.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert rotated.status_code == 200

        replay = await client.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        assert replay.status_code == 400
        assert replay.json()["error"] == "invalid_grant"
        # The legitimate holder's newer token died with the family, and so did every access
        # token of that sign-in, at once.
        newest = await client.post(
            "/v1/auth/refresh", json={"refresh_token": rotated.json()["refresh_token"]}
        )
        assert newest.status_code == 400
        for access in (first["access_token"], rotated.json()["access_token"]):
            me = await client.get("/v1/me", headers=_bearer(access))
            assert me.status_code == 401

    async def test_other_sign_ins_survive_a_reuse(self, client: httpx.AsyncClient) -> None:
        first = await _tokens(client, "fam")
        other = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "fam@example.com", "password": PASSWORD},
        )
        await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        await client.post("/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
        response = await client.post(
            "/v1/auth/refresh", json={"refresh_token": other.json()["refresh_token"]}
        )
        assert response.status_code == 200

    async def test_unknown(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/auth/refresh", json={"refresh_token": "made-up"})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_grant"


class TestLogout:
    async def test_revokes(self, client: httpx.AsyncClient) -> None:
        tokens = await _tokens(client, "bye")
        response = await client.post(
            "/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}
        )
        assert response.status_code == 204
        refresh = await client.post(
            "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refresh.status_code == 400

    async def test_stops_the_sign_ins_access_tokens_at_once(
        self, client: httpx.AsyncClient
    ) -> None:
        first = await _tokens(client, "leaver")
        rotated = await client.post(
            "/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
        )
        other = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "leaver@example.com", "password": PASSWORD},
        )
        team = await client.post(
            "/v1/teams", json={"name": "Kept"}, headers=_bearer(first["access_token"])
        )
        assert team.status_code == 201
        # Verified once already: the authenticator's cache must not outlive the revocation.
        assert (
            await client.get("/v1/me", headers=_bearer(first["access_token"]))
        ).status_code == 200

        logout = await client.post(
            "/v1/auth/logout", json={"refresh_token": rotated.json()["refresh_token"]}
        )
        assert logout.status_code == 204

        for access in (first["access_token"], rotated.json()["access_token"]):
            me = await client.get("/v1/me", headers=_bearer(access))
            assert me.status_code == 401
            assert me.headers["www-authenticate"] == 'Bearer error="invalid_token"'
            products = await client.get(
                f"/v1/teams/{team.json()['id']}/products", headers=_bearer(access)
            )
            assert products.status_code == 401
        # Another sign-in of the same account goes on.
        still = await client.get("/v1/me", headers=_bearer(other.json()["access_token"]))
        assert still.status_code == 200

    async def test_unknown_token_is_ignored(self, client: httpx.AsyncClient) -> None:
        response = await client.post("/v1/auth/logout", json={"refresh_token": "made-up"})
        assert response.status_code == 204


class TestUpdateMe:
    async def test_rename(self, client: httpx.AsyncClient) -> None:
        auth = await sign_up(client, name="before")
        response = await client.patch("/v1/me", json={"username": "after"}, headers=auth)
        assert response.status_code == 200
        assert response.json()["username"] == "after"
        assert response.json()["email"] == "before@example.com"
        assert (await client.get("/v1/me", headers=auth)).json()["username"] == "after"

    async def test_new_email_signs_in(self, client: httpx.AsyncClient) -> None:
        auth = await sign_up(client, name="mover")
        response = await client.patch("/v1/me", json={"email": "Moved@Example.com"}, headers=auth)
        assert response.status_code == 200
        assert response.json()["email"] == "moved@example.com"
        token = await client.post(
            "/v1/auth/token",
            data={"grant_type": "password", "username": "moved@example.com", "password": PASSWORD},
        )
        assert token.status_code == 200

    async def test_taken(self, client: httpx.AsyncClient) -> None:
        await sign_up(client, name="taken")
        auth = await sign_up(client, name="wants")
        response = await client.patch("/v1/me", json={"username": "taken"}, headers=auth)
        assert response.status_code == 409
        email = await client.patch("/v1/me", json={"email": "taken@example.com"}, headers=auth)
        assert email.status_code == 409
        assert (await client.get("/v1/me", headers=auth)).json()["username"] == "wants"

    async def test_empty_body(self, client: httpx.AsyncClient) -> None:
        auth = await sign_up(client)
        response = await client.patch("/v1/me", json={}, headers=auth)
        assert response.status_code == 422


class TestPreferences:
    async def test_defaults(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        response = await client.get("/v1/me/preferences", headers=auth)
        assert response.status_code == 200
        assert response.json() == {
            "timezone": "UTC",
            "locale": "en",
            "theme": "system",
            "notifications": {"order_updates": True, "stock_alerts": True, "weekly_digest": False},
        }

    async def test_replace_twice(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        document = {
            "timezone": "Europe/Paris",
            "locale": "fr-FR",
            "theme": "dark",
            "notifications": {"order_updates": False, "stock_alerts": True, "weekly_digest": True},
        }
        for theme in ("dark", "light"):
            document["theme"] = theme
            response = await client.put("/v1/me/preferences", json=document, headers=auth)
            assert response.status_code == 200
            assert response.json() == document
        assert (await client.get("/v1/me/preferences", headers=auth)).json() == document

    async def test_unknown_timezone(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        document = {
            "timezone": "Mars/Olympus_Mons",  # not in the enum: refused by the contract
            "locale": "en",
            "theme": "system",
            "notifications": {"order_updates": True, "stock_alerts": True, "weekly_digest": False},
        }
        response = await client.put("/v1/me/preferences", json=document, headers=auth)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/body/timezone"

    async def test_incomplete_document(
        self, client: httpx.AsyncClient, auth: dict[str, str]
    ) -> None:
        response = await client.put("/v1/me/preferences", json={"theme": "dark"}, headers=auth)
        assert response.status_code == 422
