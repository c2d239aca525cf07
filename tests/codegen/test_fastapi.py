"""The generated package in FastAPI: the app is a FastAPI app, the operations are an APIRouter
that an existing app includes under a prefix, the context factory takes ``Depends`` (and
``dependency_overrides`` reaches it), handlers take only the contract's arguments, concrete
paths win for every method, and ``/docs`` works under any prefix."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any
from urllib.parse import urljoin

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, HTTPException
from starlette.types import ASGIApp

import specfirst
from tests.codegen.conftest import generated_package

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Things", "version": "1.2.0"},
    # Relative: "Try it out" calls whichever server serves the document, under any prefix.
    "servers": [{"url": "/"}],
    "paths": {
        "/things/count": {
            "get": {
                "operationId": "count_things",
                "tags": ["things"],
                "responses": {
                    "200": {
                        "description": "How many",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Count"}}
                        },
                    }
                },
            }
        },
        "/things/{thing_id}": {
            "parameters": [
                {"name": "thing_id", "in": "path", "required": True, "schema": {"type": "integer"}}
            ],
            "get": {
                "operationId": "get_thing",
                "tags": ["things"],
                "responses": {
                    "200": {
                        "description": "The thing",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    },
                    "401": {"$ref": "#/components/responses/Problem"},
                    "404": {"$ref": "#/components/responses/Problem"},
                },
            },
            "patch": {
                "operationId": "rename_thing",
                "tags": ["things"],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                    },
                },
                "responses": {
                    "200": {
                        "description": "Renamed",
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        },
                    },
                    "422": {"$ref": "#/components/responses/Problem"},
                },
            },
        },
    },
    "components": {
        "schemas": {
            "Count": {
                "type": "object",
                "required": ["count"],
                "properties": {"count": {"type": "integer"}},
            },
            "Thing": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string", "minLength": 1}},
            },
            "Problem": {"type": "object", "properties": {"title": {"type": "string"}}},
        },
        "responses": {
            "Problem": {
                "description": "A problem",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            }
        },
    },
}


@pytest.fixture(scope="module")
def things(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return generated_package(DOCUMENT, tmp_path_factory.mktemp("fastapi"), "things_api")


# The dependencies an application would declare: a store, and who is asking.
STORE = {1: "anvil", 2: "rocket"}
closed: list[str] = []


async def get_store() -> AsyncIterator[dict[int, str]]:
    try:
        yield STORE
    finally:
        closed.append("store")


def get_caller(x_caller: Annotated[str | None, Header()] = None) -> str:
    if x_caller == "intruder":
        raise HTTPException(status_code=401, detail="Intruders are not served.")
    return x_caller or "anonymous"


class Context:
    def __init__(self, store: dict[int, str], caller: str) -> None:
        self.store = store
        self.caller = caller


@asynccontextmanager
async def context(
    info: specfirst.RequestInfo,
    store: Annotated[dict[int, str], Depends(get_store)],
    caller: str = Depends(get_caller),
) -> AsyncIterator[Context]:
    yield Context(store, caller)


class Things:
    def __init__(self, pkg: ModuleType) -> None:
        self.r = pkg.responses.things
        self.models = pkg.models

    async def count_things(self, ctx: Context) -> Any:
        return self.r.CountThings200(body=self.models.Count(count=len(ctx.store)))

    async def get_thing(self, ctx: Context, *, thing_id: int) -> Any:
        if thing_id not in ctx.store:
            raise _not_found(thing_id)
        return self.r.GetThing200(body=self.models.Thing(name=f"{ctx.store[thing_id]}"))

    async def rename_thing(self, ctx: Context, *, thing_id: int, body: Any) -> Any:
        return self.r.RenameThing200(body=body)


def _not_found(thing_id: int) -> specfirst.ApiError:
    error = specfirst.ApiError(f"No thing {thing_id}.")
    error.status, error.title, error.detail = 404, "Not Found", f"No thing {thing_id}."
    return error


def _implementation(pkg: ModuleType, handlers: object | None = None) -> Any:
    return pkg.Implementation(context=context, things=handlers or Things(pkg))


def _client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


@pytest.fixture
def host(things: ModuleType) -> Iterator[FastAPI]:
    """An existing FastAPI app of a team's, with the generated router included under /api."""
    app = FastAPI()

    @app.get("/own")
    async def own() -> dict[str, str]:
        return {"route": "the team's own"}

    app.include_router(things.build_router(_implementation(things)), prefix="/api")
    yield app
    app.dependency_overrides.clear()


def test_build_app_is_a_fastapi_app_without_fastapis_own_document(things: ModuleType) -> None:
    app = things.build_app(_implementation(things))
    assert isinstance(app, FastAPI)
    assert app.openapi_url is None
    assert app.docs_url is None
    assert app.redoc_url is None


def _layers(app: FastAPI) -> list[str]:
    names: list[str] = []
    node: Any = app.build_middleware_stack()
    while node is not None:
        names.append(type(node).__name__)
        node = getattr(node, "app", None)
    return names


def test_fastapis_idle_layers_are_left_out_and_telemetry_is_opt_in(things: ModuleType) -> None:
    app = things.build_app(_implementation(things))
    layers = _layers(app)
    # What FastAPI's routes rely on stays (the exit stack that closes uploaded files).
    assert "AsyncExitStackMiddleware" in layers
    assert "RequestContextMiddleware" in layers
    assert "ExceptionTelemetryMiddleware" not in layers
    assert "AppBodyLimitMiddleware" not in layers
    traced = things.build_app(_implementation(things), telemetry={"tracing": True})
    assert "ExceptionTelemetryMiddleware" in _layers(traced)


async def test_the_included_router_serves_the_contract_under_the_prefix(host: FastAPI) -> None:
    async with _client(host) as client:
        found = await client.get("/api/things/1", headers={"x-request-id": "req-1"})
        assert found.status_code == 200
        assert found.json() == {"name": "anvil"}
        assert found.headers["x-request-id"] == "req-1"
        generated_id = (await client.get("/api/things/count")).headers["x-request-id"]
        assert re.fullmatch("[0-9a-f]{32}", generated_id)
        assert (await client.get("/own")).json() == {"route": "the team's own"}
        # The contract's errors, in its shape, under the prefix too.
        invalid = await client.get("/api/things/abc")
        assert invalid.status_code == 422
        assert invalid.headers["content-type"] == "application/problem+json"
        assert invalid.json()["errors"][0]["pointer"] == "/path/thing_id"
        missing = await client.get("/api/things/9")
        assert missing.status_code == 404
        assert missing.json()["detail"] == "No thing 9."
        refused = await client.delete("/api/things/1")
        assert refused.status_code == 405
        assert refused.headers["allow"] == "GET, PATCH"
        assert refused.json()["status"] == 405
        document = (await client.get("/api/openapi.json")).json()
        assert document == DOCUMENT


async def test_dependency_overrides_reach_the_context(host: FastAPI) -> None:
    async def other_store() -> dict[int, str]:
        return {1: "overridden"}

    closed.clear()
    async with _client(host) as client:
        assert (await client.get("/api/things/1")).json() == {"name": "anvil"}
        assert closed == ["store"]  # the yield dependency was closed after the request
        host.dependency_overrides[get_store] = other_store
        assert (await client.get("/api/things/1")).json() == {"name": "overridden"}
        assert (await client.get("/api/things/count")).json() == {"count": 1}


async def test_the_generated_app_applies_its_own_overrides(things: ModuleType) -> None:
    app = things.build_app(_implementation(things))
    app.dependency_overrides[get_store] = lambda: {7: "seven"}
    async with _client(app) as client:
        assert (await client.get("/things/7")).json() == {"name": "seven"}


async def test_a_dependency_that_raises_is_a_problem(host: FastAPI) -> None:
    async with _client(host) as client:
        refused = await client.get("/api/things/1", headers={"x-caller": "intruder"})
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["detail"] == "Intruders are not served."


async def test_a_context_without_dependencies_solves_nothing(things: ModuleType) -> None:
    @asynccontextmanager
    async def plain(info: specfirst.RequestInfo) -> AsyncIterator[Context]:
        yield Context({3: "plain"}, "anonymous")

    app = things.build_app(things.Implementation(context=plain, things=Things(things)))
    async with _client(app) as client:
        assert (await client.get("/things/3")).json() == {"name": "plain"}


def test_a_handler_parameter_the_contract_does_not_declare_is_refused(things: ModuleType) -> None:
    class WithDb(Things):
        async def get_thing(
            self,
            ctx: Context,
            *,
            thing_id: int,
            db: Any = Depends(get_store),  # noqa: B008
        ) -> Any:
            raise AssertionError("never called")

    with pytest.raises(specfirst.MissingOperationsError) as refused:
        things.build_router(_implementation(things, WithDb(things)))
    message = str(refused.value)
    assert "get_thing: unexpected db (not in the contract)" in message
    assert "declare FastAPI dependencies (Depends) on the context factory" in message


@pytest.mark.parametrize("prefix", ["", "/api"])
async def test_a_concrete_path_wins_for_every_method(things: ModuleType, prefix: str) -> None:
    # /things/count has GET only; /things/{thing_id} has PATCH: PATCH /things/count is the
    # concrete path's 405, not the templated path's 422 about thing_id.
    app = things.build_app(_implementation(things))
    if prefix:
        app = FastAPI()
        app.include_router(things.build_router(_implementation(things)), prefix=prefix)
    async with _client(app) as client:
        answer = await client.patch(f"{prefix}/things/count", json={"name": "x"})
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET"
        assert answer.headers["content-type"] == "application/problem+json"
        head = await client.head(f"{prefix}/things/count")
        assert head.status_code == 405  # HEAD is not in the contract either


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.urls.append(value)


async def _check_docs(client: httpx.AsyncClient, page_url: str) -> None:
    """Everything the docs page loads resolves beside it, as a browser resolves it."""
    page = await client.get(page_url)
    assert page.status_code == 200
    parser = _Assets()
    parser.feed(page.text)
    assert len(parser.urls) == 3
    for url in parser.urls:
        assert not url.startswith("/")  # relative to the page, so any prefix works
        asset = await client.get(urljoin(page_url, url))
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
    script = (await client.get(urljoin(page_url, "docs/init.js"))).text
    assert 'new URL("openapi.json", document.baseURI)' in script
    # The document the page asks for is the reviewed one, and its server is relative.
    document = (await client.get(urljoin(page_url, "openapi.json"))).json()
    assert document["servers"] == [{"url": "/"}]
    missing = await client.get(urljoin(page_url, "docs/assets/../../secret"))
    assert missing.status_code == 404


async def test_docs_work_under_an_included_prefix(host: FastAPI) -> None:
    async with _client(host) as client:
        await _check_docs(client, "http://testserver/api/docs")


async def test_docs_work_mounted_under_a_prefix(things: ModuleType) -> None:
    outer = FastAPI()
    outer.mount("/mounted/here", things.build_app(_implementation(things)))
    async with _client(outer) as client:
        await _check_docs(client, "http://testserver/mounted/here/docs")
        assert (await client.get("/mounted/here/things/2")).json() == {"name": "rocket"}


def test_the_served_document_is_the_reviewed_one(things: ModuleType) -> None:
    assert json.loads(things.spec.OPENAPI_JSON) == DOCUMENT
    assert things.__file__ is not None
    assert not Path(things.__file__).parent.joinpath("runtime.py").exists()
