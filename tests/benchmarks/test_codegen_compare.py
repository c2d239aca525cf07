"""The pure parts of `just codegen-compare`: counting a document's operations and judging which
of them an app's router serves, whichever framework built it; the peers themselves are not run
here (they need their own environment: the recipe is the measurement)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from benchmarks.codegen_compare import invalid_python, last_line, run_measured
from benchmarks.codegen_compare_probe import (
    concrete_path,
    concrete_request,
    load,
    routed,
    server_prefixes,
)
from benchmarks.codegen_corpus import operations

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Pets", "version": "1"},
    "servers": [{"url": "https://{region}.example.com/v2/"}, {"url": "/"}],
    "paths": {
        "/pets": {
            "summary": "not an operation",
            "parameters": [],
            "get": {},
            "post": {},
            "x-internal": {},
        },
        "/pets/{pet_id}": {"$ref": "#/components/pathItems/Pet"},
        "/pets/{pet_id}/photos/{photo-id}.{ext}": {"put": {}, "head": {}},
    },
    "components": {"pathItems": {"Pet": {"get": {}, "delete": {}, "trace": {}}}},
}


async def endpoint(_: object) -> PlainTextResponse:
    return PlainTextResponse("")


def test_operations_are_counted_from_the_document() -> None:
    assert operations(DOCUMENT) == [
        ("GET", "/pets"),
        ("POST", "/pets"),
        ("GET", "/pets/{pet_id}"),
        ("DELETE", "/pets/{pet_id}"),
        ("TRACE", "/pets/{pet_id}"),
        ("PUT", "/pets/{pet_id}/photos/{photo-id}.{ext}"),
        ("HEAD", "/pets/{pet_id}/photos/{photo-id}.{ext}"),
    ]
    assert operations({"openapi": "3.0.3", "paths": None}) == []


def test_json_and_yaml_documents_load(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"paths": {"/a": {"get": {}}}}')
    (tmp_path / "a.yaml").write_text("paths:\n  /a:\n    get: {}\n")
    assert operations(load(tmp_path / "a.json")) == operations(load(tmp_path / "a.yaml"))
    assert operations(load(tmp_path / "a.yaml")) == [("GET", "/a")]


def test_servers_give_path_prefixes_and_templates_concrete_paths() -> None:
    assert server_prefixes(DOCUMENT) == ["", "/v2"]
    assert concrete_path("/pets/{pet_id}/photos/{photo-id}.{ext}") == "/pets/1/photos/1.1"


def test_a_path_key_with_a_query_string_is_asked_as_a_client_sends_it() -> None:
    assert concrete_request("/rest?method=flickr.x&q={q}") == ("/rest", b"method=flickr.x&q=1")
    assert concrete_request("/pets/{id}") == ("/pets/1", b"")
    # A route matching the key literally (`?` and all) serves no real request.
    wanted = [("GET", "/search?q={q}")]
    literal = Starlette(routes=[Route("/search?q={q}", endpoint, methods=["GET"])])
    assert routed(literal.router.routes, wanted) == []
    served = Starlette(routes=[Route("/search", endpoint, methods=["GET"])])
    assert routed(served.router.routes, wanted) == wanted


def test_routes_are_judged_by_the_router_itself() -> None:
    # Renamed and converted parameters, a mount, and one operation of each path left out.
    app = Starlette(
        routes=[
            Route("/pets", endpoint, methods=["GET"]),
            Mount(
                "/pets",
                routes=[
                    Route("/{id:int}", endpoint, methods=["GET", "DELETE"]),
                    Route("/{a}/photos/{b}.{c}", endpoint, methods=["PUT"]),
                ],
            ),
        ]
    )
    assert routed(app.router.routes, operations(DOCUMENT)) == [
        ("GET", "/pets"),
        ("GET", "/pets/{pet_id}"),
        ("DELETE", "/pets/{pet_id}"),
        ("PUT", "/pets/{pet_id}/photos/{photo-id}.{ext}"),
    ]


def test_included_fastapi_routers_and_server_prefixes_count() -> None:
    router = APIRouter()
    router.add_api_route("/pets", endpoint, methods=["POST"])
    router.add_api_route("/pets/{ident}", endpoint, methods=["DELETE"])
    app = FastAPI()
    app.include_router(router, prefix="/v2")
    wanted = operations(DOCUMENT)
    assert routed(app.router.routes, wanted) == []
    assert routed(app.router.routes, wanted, server_prefixes(DOCUMENT)) == [
        ("POST", "/pets"),
        ("DELETE", "/pets/{pet_id}"),
    ]


def test_a_child_is_killed_at_its_time_limit_and_measured() -> None:
    slow = run_measured([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert slow.returncode is None
    assert slow.seconds < 10
    done = run_measured(
        [sys.executable, "-c", "import sys; b = bytearray(64 << 20); print('hi'); sys.exit(3)"],
        timeout=30,
    )
    assert (done.returncode, done.output) == (3, "hi\n")
    assert done.peak_mib > 64


def test_invalid_python_names_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "good.py").write_text("x = 1\n")
    assert invalid_python(tmp_path) is None
    (tmp_path / "pkg" / "models.py").write_text("class A:\n    x: int\nclass 1B:\n    pass\n")
    problem = invalid_python(tmp_path)
    assert problem is not None
    assert problem.startswith("pkg/models.py:3: SyntaxError")


def test_the_failure_named_is_the_last_line_or_the_java_exception() -> None:
    assert last_line("warning: x\nValueError: bad\n\n") == "ValueError: bad"
    trace = (
        'Exception in thread "main" java.lang.RuntimeException: Error! not yet supported\n'
        "\tat org.openapitools.codegen.DefaultGenerator.generate(DefaultGenerator.java:1)\n"
    )
    assert last_line(trace).startswith('Exception in thread "main" java.lang.RuntimeException')
    assert last_line("") == ""
