from __future__ import annotations

import asyncio

import httpx

from tests.api.conftest import sign_up


async def _join(
    client: httpx.AsyncClient, team_id: str, owner: dict[str, str], name: str, role: str
) -> tuple[dict[str, str], str]:
    auth = await sign_up(client, name=name)
    response = await client.post(
        f"/v1/teams/{team_id}/members",
        json={"email": f"{name}@example.com", "role": role},
        headers=owner,
    )
    assert response.status_code == 201, response.text
    user_id: str = response.json()["user_id"]
    return auth, user_id


async def _my_id(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    user_id: str = (await client.get("/v1/me", headers=auth)).json()["id"]
    return user_id


class TestAddMember:
    async def test_added_member_sees_the_team(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        grace = await sign_up(client, name="grace")
        response = await client.post(
            f"/v1/teams/{team_id}/members",
            json={"email": "Grace@Example.com", "role": "viewer"},
            headers=auth,
        )
        assert response.status_code == 201
        body = response.json()
        assert (body["email"], body["role"]) == ("grace@example.com", "viewer")
        assert response.headers["location"] == f"/v1/teams/{team_id}/members/{body['user_id']}"
        team = await client.get(f"/v1/teams/{team_id}", headers=grace)
        assert team.json()["role"] == "viewer"

    async def test_twice(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        await _join(client, team_id, auth, "twice", "member")
        again = await client.post(
            f"/v1/teams/{team_id}/members",
            json={"email": "twice@example.com", "role": "viewer"},
            headers=auth,
        )
        assert again.status_code == 409

    async def test_unknown_email(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        response = await client.post(
            f"/v1/teams/{team_id}/members",
            json={"email": "nobody@example.com", "role": "member"},
            headers=auth,
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/body/email"

    async def test_admin_cannot_add_an_owner(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        admin, _ = await _join(client, team_id, auth, "adm1", "admin")
        await sign_up(client, name="wannabe")
        response = await client.post(
            f"/v1/teams/{team_id}/members",
            json={"email": "wannabe@example.com", "role": "owner"},
            headers=admin,
        )
        assert response.status_code == 403


class TestListMembers:
    async def test_in_join_order(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        viewer, _ = await _join(client, team_id, auth, "lm1", "viewer")
        await _join(client, team_id, auth, "lm2", "member")
        response = await client.get(f"/v1/teams/{team_id}/members?limit=2", headers=viewer)
        assert response.status_code == 200
        page = response.json()
        assert [m["role"] for m in page["items"]] == ["owner", "viewer"]
        rest = await client.get(
            f"/v1/teams/{team_id}/members", params={"cursor": page["next_cursor"]}, headers=viewer
        )
        assert [m["username"] for m in rest.json()["items"]] == ["lm2"]
        assert rest.json()["next_cursor"] is None


class TestUpdateMember:
    async def test_promote_and_demote(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        _, user_id = await _join(client, team_id, auth, "prom", "viewer")
        url = f"/v1/teams/{team_id}/members/{user_id}"
        assert (await client.patch(url, json={"role": "owner"}, headers=auth)).status_code == 200
        demoted = await client.patch(url, json={"role": "member"}, headers=auth)
        assert demoted.status_code == 200
        assert demoted.json()["role"] == "member"

    async def test_last_owner_cannot_be_demoted(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        url = f"/v1/teams/{team_id}/members/{await _my_id(client, auth)}"
        response = await client.patch(url, json={"role": "admin"}, headers=auth)
        assert response.status_code == 409
        team = await client.get(f"/v1/teams/{team_id}", headers=auth)
        assert team.json()["role"] == "owner"

    async def test_admin_cannot_touch_an_owner(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        admin, _ = await _join(client, team_id, auth, "adm2", "admin")
        url = f"/v1/teams/{team_id}/members/{await _my_id(client, auth)}"
        response = await client.patch(url, json={"role": "viewer"}, headers=admin)
        assert response.status_code == 403

    async def test_not_a_member(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        stranger = await _my_id(client, await sign_up(client, name="stranger"))
        url = f"/v1/teams/{team_id}/members/{stranger}"
        assert (await client.patch(url, json={"role": "admin"}, headers=auth)).status_code == 404


class TestRemoveMember:
    async def test_leave(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        viewer, user_id = await _join(client, team_id, auth, "leaver", "viewer")
        response = await client.delete(f"/v1/teams/{team_id}/members/{user_id}", headers=viewer)
        assert response.status_code == 204
        assert (await client.get(f"/v1/teams/{team_id}", headers=viewer)).status_code == 404

    async def test_member_cannot_remove_others(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        member, _ = await _join(client, team_id, auth, "mem1", "member")
        _, other = await _join(client, team_id, auth, "mem2", "member")
        response = await client.delete(f"/v1/teams/{team_id}/members/{other}", headers=member)
        assert response.status_code == 403

    async def test_last_owner_cannot_leave(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        url = f"/v1/teams/{team_id}/members/{await _my_id(client, auth)}"
        assert (await client.delete(url, headers=auth)).status_code == 409

    async def test_two_owners_leaving_at_once_keep_one(
        self, client: httpx.AsyncClient, auth: dict[str, str], team_id: str
    ) -> None:
        second, second_id = await _join(client, team_id, auth, "own2", "owner")
        first_id = await _my_id(client, auth)
        responses = await asyncio.gather(
            client.delete(f"/v1/teams/{team_id}/members/{first_id}", headers=auth),
            client.delete(f"/v1/teams/{team_id}/members/{second_id}", headers=second),
        )
        assert sorted(r.status_code for r in responses) == [204, 409]
