"""The permission matrix the contract states (`x-team-roles`) is what the app enforces.

For every team-scoped operation of the served spec and every role, a request built from the
operation's own examples must get 403 when the role is not listed, and must get past the
role check when it is; a non-member gets 404 everywhere.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
import pytest

from generated.spec import OPENAPI_JSON
from specfirst.document import Document
from tests.api.conftest import sign_up

DOCUMENT: dict[str, Any] = json.loads(OPENAPI_JSON)
ROLES = ("owner", "admin", "member", "viewer")
# Finer rules, documented on the operation, that the service applies after the role check.
FINER_RULES = {"remove_member"}


def _team_operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (op.path, op.method, op.operation)
        for op in Document(DOCUMENT).operations()
        if "x-team-roles" in op.operation
    ]


OPERATIONS = _team_operations()
CASES = [pytest.param(*case, id=case[2]["operationId"]) for case in OPERATIONS]


def _request(path: str, method: str, operation: dict[str, Any], team_id: str) -> dict[str, Any]:
    # Other ids are made up: the role check comes before any lookup.
    url = re.sub(r"\{\w+\}", lambda _: str(uuid.uuid4()), path.replace("{team_id}", team_id))
    request: dict[str, Any] = {"method": method.upper(), "url": url, "headers": {}}
    for parameter in operation.get("parameters", []):
        if "$ref" in parameter:
            parameter = DOCUMENT["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[1]]
        if parameter["in"] == "header" and parameter.get("required"):
            request["headers"][parameter["name"]] = str(uuid.uuid4())
    content = (operation.get("requestBody") or {}).get("content", {})
    if "application/json" in content:
        examples = content["application/json"]["examples"]
        request["json"] = next(iter(examples.values()))["value"]
    return request


@pytest.fixture
async def members(client: httpx.AsyncClient) -> tuple[str, dict[str, dict[str, str]]]:
    """A team with one member of each role, and each member's credentials."""
    owner = await sign_up(client, name="mxowner")
    team_id = (await client.post("/v1/teams", json={"name": "Matrix"}, headers=owner)).json()["id"]
    headers = {"owner": owner}
    for role in ROLES[1:]:
        headers[role] = await sign_up(client, name=f"mx{role}")
        added = await client.post(
            f"/v1/teams/{team_id}/members",
            json={"email": f"mx{role}@example.com", "role": role},
            headers=owner,
        )
        assert added.status_code == 201, added.text
    return team_id, headers


def test_every_team_scoped_operation_is_covered() -> None:
    scoped = [
        (op.path, op.method) for op in Document(DOCUMENT).operations() if "{team_id}" in op.path
    ]
    assert sorted(scoped) == sorted((path, method) for path, method, _ in OPERATIONS)


@pytest.mark.parametrize(("path", "method", "operation"), CASES)
async def test_roles(
    client: httpx.AsyncClient,
    members: tuple[str, dict[str, dict[str, str]]],
    path: str,
    method: str,
    operation: dict[str, Any],
) -> None:
    team_id, headers = members
    allowed = set(operation["x-team-roles"])
    # Owners last: an allowed call may be destructive (delete_team).
    for role in reversed(ROLES):
        request = _request(path, method, operation, team_id)
        request["headers"].update(headers[role])
        response = await client.request(**request)
        if role not in allowed:
            assert response.status_code == 403, (role, response.text)
        elif operation["operationId"] not in FINER_RULES:
            assert response.status_code != 403, (role, response.text)


@pytest.mark.parametrize(("path", "method", "operation"), CASES)
async def test_non_member(
    client: httpx.AsyncClient,
    members: tuple[str, dict[str, dict[str, str]]],
    path: str,
    method: str,
    operation: dict[str, Any],
) -> None:
    team_id, _ = members
    outsider = await sign_up(client, name="mxoutsider")
    request = _request(path, method, operation, team_id)
    request["headers"].update(outsider)
    response = await client.request(**request)
    assert response.status_code == 404, response.text
