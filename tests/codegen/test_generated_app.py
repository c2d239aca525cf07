"""The golden package is executed, not only compared: build it and serve requests through it."""

from __future__ import annotations

import importlib
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import ModuleType
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

import specfirst
from tests.codegen.test_golden import DATA


@pytest.fixture(scope="module")
def pets() -> Iterator[ModuleType]:
    sys.path.insert(0, str(DATA))
    try:
        yield importlib.import_module("pets_expected")
    finally:
        sys.path.remove(str(DATA))


class Store:
    """A small implementation of the pets API, written against the generated interfaces."""

    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg
        self.r = pkg.responses.pets
        self.pets: dict[UUID, Any] = {}

    async def list_pets(
        self, ctx: Any, *, limit: int, kind: str | None, tags: list[str] | None, x_trace: str | None
    ) -> Any:
        items = [p for p in self.pets.values() if kind is None or p.kind == kind][:limit]
        return self.r.ListPets200(body=items, x_total=len(items))

    async def create_pet(self, ctx: Any, *, body: Any) -> Any:
        if body.name == "taken":
            return self.r.CreatePet4XX(
                status=409, body=self.pkg.models.Error(title="Conflict", status=409)
            )
        pet = self.pkg.models.Pet(id=uuid4(), **body.model_dump())
        self.pets[pet.id] = pet
        return self.r.CreatePet201(body=pet, location=f"/pets/{pet.id}")

    async def get_pet(self, ctx: Any, *, pet_id: UUID) -> Any:
        if pet_id not in self.pets:
            error = self.pkg.ApiError("no such pet")
            error.status = 409  # get_pet documents 200 and 404 only
            raise error
        return self.r.GetPet200(body=self.pets[pet_id])

    async def delete_pet(self, ctx: Any, *, pet_id: UUID) -> Any:
        self.pets.pop(pet_id, None)
        return self.r.DeletePet204()


class Auth:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg

    async def post_login(self, ctx: Any, *, body: Any) -> Any:
        return self.pkg.responses.auth.PostLogin200(body=f"hello {body.user}")


class Keys:
    async def authenticate(self, credentials: Any, scopes: Sequence[str]) -> Any:
        return "admin" if credentials.value in ("secret", "token") else None


def _context(info: Any) -> AbstractAsyncContextManager[Any]:
    @asynccontextmanager
    async def open_context() -> AsyncIterator[Any]:
        yield info.principal

    return open_context()


def _app(pets: ModuleType, **kwargs: Any) -> Any:
    impl = pets.Implementation(
        context=_context, authenticator=Keys(), pets=Store(pets), auth=Auth(pets)
    )
    return pets.build_app(impl, **kwargs)


@pytest.fixture
async def client(pets: ModuleType) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(pets, validate_responses=True))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def test_create_then_get(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": "Bearer token"}
    created = await client.post("/pets", json={"name": "Rex", "kind": "dog"}, headers=auth)
    assert created.status_code == 201
    assert created.headers["location"] == f"/pets/{created.json()['id']}"
    fetched = await client.get(created.headers["location"], headers=auth)
    assert fetched.status_code == 200
    assert fetched.json()["name"] == "Rex"


async def test_range_status_from_response_class(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/pets", json={"name": "taken"}, headers={"Authorization": "Bearer token"}
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


async def test_query_defaults_arrays_and_response_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/pets", params=[("tags", "a"), ("tags", "b"), ("kind", "cat")])
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["x-total"] == "0"


async def test_invalid_parameters_name_each_pointer(client: httpx.AsyncClient) -> None:
    response = await client.get("/pets", params={"limit": "0", "kind": "cow"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert pointers == {"/query/limit", "/query/kind"}


async def test_strict_json_body(client: httpx.AsyncClient) -> None:
    auth = {"Authorization": "Bearer token"}
    wrong_type = await client.post("/pets", json={"name": 5}, headers=auth)
    assert wrong_type.status_code == 422
    assert wrong_type.json()["errors"][0]["pointer"] == "/body/name"
    extra = await client.post("/pets", json={"name": "a", "colour": "red"}, headers=auth)
    assert extra.status_code == 422
    malformed = await client.post(
        "/pets", content=b"{", headers={**auth, "content-type": "application/json"}
    )
    assert malformed.status_code == 400
    wrong_media = await client.post(
        "/pets", content=b"name=a", headers={**auth, "content-type": "text/plain"}
    )
    assert wrong_media.status_code == 415


async def test_security(client: httpx.AsyncClient) -> None:
    missing = await client.post("/pets", json={"name": "a"})
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await client.post("/pets", json={"name": "a"}, headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401
    api_key = await client.delete(f"/pets/{uuid4()}", headers={"X-API-Key": "secret"})
    assert api_key.status_code == 204
    bearer_not_enough = await client.delete(
        f"/pets/{uuid4()}", headers={"Authorization": "Bearer token"}
    )
    assert bearer_not_enough.status_code == 401


async def test_form_body_and_text_response(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", data={"user": "ada", "password": "pw", "class": "x"})
    assert response.status_code == 200
    assert response.text == "hello ada"
    assert response.headers["content-type"].startswith("text/plain")
    invalid = await client.post("/login", data={"user": "ada"})
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["pointer"] == "/body/password"


async def test_framework_errors_are_problems(client: httpx.AsyncClient) -> None:
    not_found = await client.get("/nowhere")
    assert not_found.status_code == 404
    assert not_found.headers["content-type"] == "application/problem+json"
    wrong_method = await client.put("/pets")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "GET, POST"
    assert wrong_method.json()["status"] == 405


async def test_undocumented_status_is_caught(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # With response validation on, a status the operation does not document is a server bug.
    response = await client.get(f"/pets/{uuid4()}", headers={"Authorization": "Bearer token"})
    assert response.status_code == 500
    assert response.json()["request_id"] == response.headers["x-request-id"]
    assert "get_pet raised status 409, which its contract does not document" in caplog.text


async def test_request_id_echoed_or_generated(client: httpx.AsyncClient) -> None:
    given = await client.get("/pets", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    generated = await client.get("/pets", headers={"X-Request-ID": "bad id\twith spaces"})
    assert generated.headers["x-request-id"] != "bad id\twith spaces"
    assert len(generated.headers["x-request-id"]) == 32


def test_missing_operations_fail_start_up(pets: ModuleType) -> None:
    impl = pets.Implementation(context=_context, pets=Store(pets))
    with pytest.raises(specfirst.MissingOperationsError, match="post_login"):
        pets.build_app(impl)


def test_wrong_signature_fails_start_up(pets: ModuleType) -> None:
    class Wrong(Store):
        async def get_pet(self, ctx: Any, *, id: UUID) -> Any:  # type: ignore[override]
            raise NotImplementedError

    impl = pets.Implementation(context=_context, pets=Wrong(pets), auth=Auth(pets))
    with pytest.raises(specfirst.MissingOperationsError, match="get_pet: missing pet_id"):
        pets.build_app(impl)


async def test_allow_missing_serves_501(pets: ModuleType) -> None:
    app = pets.build_app(None, allow_missing=True)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        response = await c.get("/pets")
    assert response.status_code == 501
    assert response.json()["detail"] == "Operation listPets has no implementation yet."


async def test_the_context_factory_is_told_the_validated_arguments(pets: ModuleType) -> None:
    seen: list[Any] = []

    def recording(info: Any) -> AbstractAsyncContextManager[Any]:
        seen.append(info)
        return _context(info)

    impl = pets.Implementation(
        context=recording, authenticator=Keys(), pets=Store(pets), auth=Auth(pets)
    )
    transport = httpx.ASGITransport(app=pets.build_app(impl))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        listed = await client.get("/pets", params=[("tags", "a"), ("tags", "b"), ("limit", "7")])
        created = await client.post(
            "/pets", json={"name": "Rex", "kind": "dog"}, headers={"Authorization": "Bearer token"}
        )
    assert (listed.status_code, created.status_code) == (200, 201)
    assert seen[0].arguments == {"limit": 7, "kind": None, "tags": ["a", "b"], "x_trace": None}
    body = seen[1].arguments["body"]
    assert isinstance(body, pets.models.NewPet)
    assert (body.name, body.kind) == ("Rex", "dog")
