from __future__ import annotations

import httpx

from tests.api.conftest import sign_up


class TestCreateTeam:
    async def test_creator_is_owner(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        response = await client.post("/v1/teams", json={"name": "Acme"}, headers=auth)
        assert response.status_code == 201
        team = response.json()
        assert team["role"] == "owner"
        assert response.headers["location"] == f"/v1/teams/{team['id']}"

    async def test_anonymous(self, client: httpx.AsyncClient) -> None:
        assert (await client.post("/v1/teams", json={"name": "Acme"})).status_code == 401


class TestListTeams:
    async def test_pages_without_gaps(
        self, client: httpx.AsyncClient, auth: dict[str, str]
    ) -> None:
        created = [
            (await client.post("/v1/teams", json={"name": f"T{i}"}, headers=auth)).json()["id"]
            for i in range(5)
        ]
        seen: list[str] = []
        cursor: str | None = None
        while True:
            params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/teams", params=params, headers=auth)).json()
            seen += [t["id"] for t in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == created

    async def test_only_own_teams(self, client: httpx.AsyncClient, team_id: str) -> None:
        other = await sign_up(client)
        page = (await client.get("/v1/teams", headers=other)).json()
        assert page == {"items": [], "next_cursor": None}

    async def test_tampered_cursor(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        response = await client.get("/v1/teams", params={"cursor": "abc.def"}, headers=auth)
        assert response.status_code == 400


class TestGetTeam:
    async def test_member(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        response = await client.get(f"/v1/teams/{team_id}", headers=auth)
        assert response.status_code == 200
        assert response.headers["etag"].startswith('"')

    async def test_other_team_is_not_found(self, client: httpx.AsyncClient, team_id: str) -> None:
        other = await sign_up(client)
        response = await client.get(f"/v1/teams/{team_id}", headers=other)
        assert response.status_code == 404

    async def test_malformed_id(self, client: httpx.AsyncClient, auth: dict[str, str]) -> None:
        response = await client.get("/v1/teams/not-a-uuid", headers=auth)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/path/team_id"


class TestUpdateTeam:
    async def test_owner_renames(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        before = await client.get(f"/v1/teams/{team_id}", headers=auth)
        response = await client.patch(f"/v1/teams/{team_id}", json={"name": "New"}, headers=auth)
        assert response.status_code == 200
        assert response.json()["name"] == "New"
        assert response.headers["etag"] != before.headers["etag"]

    async def test_other_team(self, client: httpx.AsyncClient, team_id: str) -> None:
        other = await sign_up(client)
        response = await client.patch(f"/v1/teams/{team_id}", json={"name": "x"}, headers=other)
        assert response.status_code == 404


class TestDeleteTeam:
    async def test_owner_deletes(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        assert (await client.delete(f"/v1/teams/{team_id}", headers=auth)).status_code == 204
        assert (await client.get(f"/v1/teams/{team_id}", headers=auth)).status_code == 404
