"""Examples that run: every request example in the spec, replayed against the running service.

Each request-body example is sent, in document order, to a server of its own (uvicorn,
response validation on, as for the other contract tests) and must answer the status it
documents: the operation's lowest documented 2xx, or the example's ``x-expected-status`` when
it deliberately shows an error. The examples tell one story (Ada signs up, then signs in; a
member is added, then promoted), so they run in one test that lists every mismatch.

Before sending, the example is aimed at real resources, like ``_aim_at_real_resources`` in
test_contract.py: a value equal to a path parameter's example (the team, product or user id
the spec shows) becomes the id of a resource that exists, wherever it appears (path, body);
``If-Match`` carries the resource's current ``ETag``; a ``refresh_token`` field carries one the
server issued. Other parameters take their first example when they are required.

Parameter examples are replayed too, on the operations that only read (GET): each example of
each query, header or cookie parameter, the other required parameters taking their first
example. An example that deliberately shows an error says so with ``x-expected-status`` (the
sample ``cursor``, which the server did not issue, answers 400).

Response examples are checked statically: ``just lint-spec``'s ``example-valid`` rule validates
every example (request and response bodies, parameters, headers, schemas) against its schema,
and ``test_every_example_matches_its_schema`` runs it on our spec.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from codegen.generate import load_bundle
from specfirst.document import Document
from spectools.lint import lint
from tests.contract.conftest import (
    ROOT,
    fresh_server,
    resolved,
    sign_up,
)

SPEC_PATH = ROOT / "openapi/openapi.yaml"


@dataclass(frozen=True)
class RequestExample:
    operation_id: str
    name: str
    method: str
    path: str
    parameters: list[dict[str, Any]]
    media_type: str
    value: Any
    expected_status: int

    def __str__(self) -> str:
        return f"{self.operation_id} example {self.name!r}"


def expected_status(operation: dict[str, Any], example: dict[str, Any]) -> int:
    """``x-expected-status`` on the example, else the operation's lowest documented 2xx."""
    if "x-expected-status" in example:
        return int(example["x-expected-status"])
    return min(int(code) for code in operation["responses"] if code.startswith("2"))


def request_examples(document: dict[str, Any]) -> list[RequestExample]:
    """Every named request-body example of the bundled document, in document order."""
    found = []
    for op in Document(document).operations():
        operation = op.operation
        parameters = [
            resolved(document, parameter)
            for parameter in [*op.parameters, *operation.get("parameters", [])]
        ]
        body = resolved(document, operation.get("requestBody", {}))
        for media_type, media in body.get("content", {}).items():
            for name, example in (media.get("examples") or {}).items():
                example = resolved(document, example)
                found.append(
                    RequestExample(
                        operation_id=operation["operationId"],
                        name=name,
                        method=op.method.upper(),
                        path=op.path,
                        parameters=parameters,
                        media_type=media_type,
                        value=example["value"],
                        expected_status=expected_status(operation, example),
                    )
                )
    return found


def parameter_examples(document: dict[str, Any]) -> list[RequestExample]:
    """Every example of a query, header or cookie parameter of a GET operation.

    ``value`` is ``{parameter name: example value}``; ``media_type`` is empty (no body).
    """
    found = []
    for op in Document(document).operations():
        if op.method != "get":
            continue
        path, operation = op.path, op.operation
        parameters = [
            resolved(document, parameter)
            for parameter in [*op.parameters, *operation.get("parameters", [])]
        ]
        for parameter in parameters:
            if parameter["in"] == "path":
                continue
            for name, example in (parameter.get("examples") or {}).items():
                example = resolved(document, example)
                found.append(
                    RequestExample(
                        operation_id=operation["operationId"],
                        name=f"{parameter['name']}: {name}",
                        method="GET",
                        path=path,
                        parameters=parameters,
                        media_type="",
                        value={parameter["name"]: example["value"]},
                        expected_status=expected_status(operation, example),
                    )
                )
    return found


def _first_example(parameter: dict[str, Any]) -> Any:
    examples = parameter.get("examples") or {}
    return next(iter(examples.values()))["value"] if examples else parameter.get("example")


@dataclass
class World:
    """Resources that exist, and how to aim an example at them."""

    base_url: str
    token: str
    real_ids: dict[str, str]  # path parameter name -> an id that exists
    fresh_refresh_token: Callable[[], str]

    def aim(self, example: RequestExample, examples: list[RequestExample]) -> httpx.Request:
        # Ids appear in bodies too (an order line's product_id): swap them wherever they are.
        swaps = {
            str(_first_example(parameter)): self.real_ids[parameter["name"]]
            for other in examples
            for parameter in other.parameters
            if parameter["in"] == "path" and parameter["name"] in self.real_ids
        }

        def swap(value: Any) -> Any:
            if isinstance(value, dict):
                return {
                    key: self.fresh_refresh_token() if key == "refresh_token" else swap(item)
                    for key, item in value.items()
                }
            if isinstance(value, list):
                return [swap(item) for item in value]
            return swaps.get(value, value) if isinstance(value, str) else value

        path = example.path
        query: dict[str, Any] = {}
        headers = {"Authorization": f"Bearer {self.token}"}
        # A parameter example (no media type) sets its one parameter; others take their first.
        chosen = example.value if not example.media_type else {}
        for parameter in example.parameters:
            name, where = parameter["name"], parameter["in"]
            if where == "path":
                path = path.replace(f"{{{name}}}", swap(str(_first_example(parameter))))
            elif name == "If-Match":
                headers[name] = self._current_etag(path)
            elif name in chosen or parameter.get("required"):
                target = headers if where == "header" else query
                value = chosen[name] if name in chosen else _first_example(parameter)
                target[name] = str(value).lower() if isinstance(value, bool) else str(value)
        content: dict[str, Any] = {}
        if example.media_type == "application/x-www-form-urlencoded":
            content = {"data": swap(example.value)}
        elif example.media_type:
            content = {"json": swap(example.value)}
        return httpx.Client().build_request(
            example.method,
            f"{self.base_url}{path}",
            params=query,
            headers=headers,
            **content,
        )

    def _current_etag(self, path: str) -> str:
        response = httpx.get(
            f"{self.base_url}{path}", headers={"Authorization": f"Bearer {self.token}"}
        )
        response.raise_for_status()
        return response.headers["ETag"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A server of its own: the examples create users the other contract tests must not see."""
    email, password = "examples@example.com", "examples-password-1"
    tmp = tmp_path_factory.mktemp("examples")
    database = tmp / "app.db"
    with (
        fresh_server(tmp) as base_url,
        httpx.Client(base_url=base_url) as client,
    ):
        _, token = sign_up(base_url, email, password)
        # A platform admin, so the admin API's examples run too (the server reads the flag
        # on every request).
        with sqlite3.connect(database) as connection:
            connection.execute("UPDATE users SET is_admin = 1 WHERE email = ?", (email,))
        # Not yet a member: add_member's example adds her, update_member's promotes her.
        grace_id, _ = sign_up(base_url, "grace@example.com", "grace-password-1")
        auth = {"Authorization": f"Bearer {token}"}
        team = client.post("/v1/teams", json={"name": "Examples"}, headers=auth).json()
        product = client.post(
            f"/v1/teams/{team['id']}/products",
            json={
                "sku": "EXAMPLES-1",
                "name": "On sale, in stock",
                "price": "12.50",
                "currency": "EUR",
                "status": "active",
            },
            headers=auth,
        ).json()
        client.post(
            f"/v1/teams/{team['id']}/products/{product['id']}/stock/movements",
            json={"delta": 100, "reason": "receive"},
            headers=auth,
        ).raise_for_status()

        def fresh_refresh_token() -> str:
            response = client.post(
                "/v1/auth/token",
                data={"grant_type": "password", "username": email, "password": password},
            )
            response.raise_for_status()
            refresh_token: str = response.json()["refresh_token"]
            return refresh_token

        yield World(
            base_url,
            token,
            {"team_id": team["id"], "product_id": product["id"], "user_id": grace_id},
            fresh_refresh_token,
        )


def test_every_request_example_answers_its_documented_status(world: World) -> None:
    examples = request_examples(load_bundle(SPEC_PATH).document)
    assert len(examples) >= 10, "the spec's request examples were not found"
    mismatches = []
    with httpx.Client() as client:
        for example in examples:
            response = client.send(world.aim(example, examples))
            if response.status_code != example.expected_status:
                mismatches.append(
                    f"{example}: {example.method} {response.request.url.path} answered "
                    f"{response.status_code}, expected {example.expected_status}: "
                    f"{response.text[:500]}"
                )
    assert not mismatches, "\n".join(mismatches)


def test_every_parameter_example_of_a_read_answers_its_documented_status(world: World) -> None:
    document = load_bundle(SPEC_PATH).document
    examples = parameter_examples(document)
    assert len(examples) >= 10, "the spec's parameter examples were not found"
    mismatches = []
    with httpx.Client() as client:
        for example in examples:
            response = client.send(world.aim(example, request_examples(document)))
            if response.status_code != example.expected_status:
                mismatches.append(
                    f"{example}: GET {response.request.url} answered {response.status_code}, "
                    f"expected {example.expected_status}: {response.text[:300]}"
                )
    assert not mismatches, "\n".join(mismatches)


def test_expected_status_is_the_lowest_2xx_unless_the_example_says() -> None:
    operation: dict[str, Any] = {"responses": {"201": {}, "200": {}, "422": {}}}
    assert expected_status(operation, {"value": {}}) == 200
    assert expected_status(operation, {"value": {}, "x-expected-status": 422}) == 422


def test_every_example_matches_its_schema() -> None:
    findings = [
        str(finding) for finding in lint(Path(SPEC_PATH)) if finding.code == "example-valid"
    ]
    assert findings == []
