"""The team's own tests: FastAPI's TestClient, and dependency_overrides replacing a dependency
of the generated API's context."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from app import Store, app, get_store
from fastapi.testclient import TestClient
from notes_api import models


@pytest.fixture
def client() -> Iterator[TestClient]:
    store = Store({7: models.Note(id=7, text="seeded by the test", author="fixture")})
    app.dependency_overrides[get_store] = lambda: store
    with TestClient(app) as client:
        yield client
    app.dependency_overrides.clear()


def test_the_override_reaches_the_handlers(client: TestClient) -> None:
    assert client.get("/api/notes/7").json() == {
        "id": 7,
        "text": "seeded by the test",
        "author": "fixture",
    }


def test_write_then_read(client: TestClient) -> None:
    written = client.post("/api/notes", json={"text": "hello"}, headers={"x-author": "ada"})
    assert written.status_code == 201
    assert written.headers["location"] == "notes/8"
    assert client.get("/api/notes?limit=1").json()[0]["author"] == "ada"


def test_the_contract_refuses_what_it_does_not_allow(client: TestClient) -> None:
    refused = client.post("/api/notes", json={"text": ""})
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["pointer"] == "/body/text"
    assert client.get("/api/notes/99").status_code == 404


def test_the_teams_own_routes_stay(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
