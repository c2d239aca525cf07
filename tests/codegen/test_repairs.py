"""Invalid real-world documents whose intent is clear generate, each repair a located warning;
one no server could serve is refused, naming the place (tests/codegen/repairs/*.yaml)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from codegen.generate import generate, write

ROOT = Path(__file__).resolve().parents[2]
REPAIRS = Path(__file__).parent / "repairs"


def _warnings(name: str) -> list[tuple[str, str]]:
    return [(w.pointer, w.message) for w in generate(REPAIRS / f"{name}.yaml").warnings]


@pytest.fixture
def package(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[ModuleType]:
    """The repair document named by the test's parameter, generated and imported."""
    name: str = request.param
    write(generate(REPAIRS / f"{name}.yaml").files, tmp_path / f"repair_{name}")
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(f"repair_{name}")
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m.split(".")[0] == f"repair_{name}"]:
            del sys.modules[module]


@asynccontextmanager
async def _client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@dataclass
class _Context:
    seen: list[tuple[str, Any]]

    def __call__(self, info: Any) -> AbstractAsyncContextManager[_Context]:
        @asynccontextmanager
        async def opened() -> AsyncIterator[_Context]:
            yield self

        return opened()


def test_empty_responses_warn_at_the_operation() -> None:
    assert _warnings("empty_responses") == [
        (
            "/paths/~1pings/post/responses",
            "the operation documents no response; served as a `default` one, no body",
        )
    ]


@pytest.mark.parametrize("package", ["empty_responses"], indirect=True)
async def test_empty_responses_answer_any_status_without_a_body(package: ModuleType) -> None:
    class Pings:
        async def list_pings(self, ctx: _Context) -> Any:
            return package.responses.default.ListPings200(body=["a"])

        async def ping(self, ctx: _Context) -> Any:
            return package.responses.default.PingDefault(status=204)

    implementation = package.Implementation(context=_Context([]), default=Pings())
    async with _client(package.build_app(implementation)) as client:
        answered = await client.post("/pings")
        assert (answered.status_code, answered.content) == (204, b"")
        assert (await client.get("/pings")).json() == ["a"]
        served = (await client.get("/openapi.json")).json()
    # The served contract is the repaired, valid one: it says what the server does.
    assert served["paths"]["/pings"]["post"]["responses"] == {
        "default": {"description": "Not documented (the operation listed no response)."}
    }
    # The mock answers it too (a default response with no body: 200).
    async with _client(package.build_app(None, mock=True)) as client:
        assert (await client.post("/pings")).status_code == 200


def test_undefined_schemes_warn_where_they_are_named() -> None:
    never = "is not defined in components/securitySchemes; a requirement naming it is never"
    assert _warnings("undefined_scheme") == [
        ("/paths/~1keys/get/security", f"security scheme 'nokey' {never} satisfied"),
        ("/paths/~1tokens/get/security", f"security scheme 'oauth' {never} satisfied"),
        ("/security", f"security scheme 'session' {never} satisfied"),
    ]


@pytest.mark.parametrize("package", ["undefined_scheme"], indirect=True)
async def test_undefined_schemes_fail_closed(package: ModuleType) -> None:
    class Anyone:
        async def authenticate(self, credentials: Any, scopes: Any) -> str:
            return "someone"

    class Reads:
        async def read_with_key(self, ctx: _Context) -> Any:
            return package.responses.default.ReadWithKey200()

        async def read_with_token(self, ctx: _Context) -> Any:
            return package.responses.default.ReadWithToken200()

        async def read_with_session(self, ctx: _Context) -> Any:
            return package.responses.default.ReadWithSession200()

    implementation = package.Implementation(
        context=_Context([]), authenticator=Anyone(), default=Reads()
    )
    anything = {"X-Key": "k", "Authorization": "Bearer t", "Cookie": "session=s"}
    async with _client(package.build_app(implementation)) as client:
        # The defined alternative still lets a request in; the undefined one never does.
        assert (await client.get("/keys", headers={"X-Key": "k"})).status_code == 200
        assert (await client.get("/keys")).status_code == 401
        for path in ("/tokens", "/sessions"):
            refused = await client.get(path, headers=anything)
            assert refused.status_code == 401, path
            assert refused.headers["content-type"] == "application/problem+json"


def test_duplicate_parameters_warn_and_the_first_declaration_wins() -> None:
    twice = "parameter declared twice in this list (same name and location); ignored"
    assert _warnings("duplicate_parameter") == [
        ("/paths/~1items~1{id}/get/parameters/1", twice),
        ("/paths/~1items~1{id}/get/parameters/3", twice),
        ("/paths/~1items~1{id}/parameters/1", twice),
    ]


@pytest.mark.parametrize("package", ["duplicate_parameter"], indirect=True)
async def test_duplicate_parameters_validate_as_first_declared(package: ModuleType) -> None:
    class Items:
        async def get_item(self, ctx: _Context, id_: int, limit: Any, x_trace: Any) -> Any:
            ctx.seen.append(("limit", limit))
            return package.responses.default.GetItem200(
                body=package.models.GetItem200Response(id=id_)
            )

    context = _Context([])
    implementation = package.Implementation(context=context, default=Items())
    async with _client(package.build_app(implementation)) as client:
        answered = await client.get("/items/7", params={"limit": "3"}, headers={"X-Trace": "t"})
        assert answered.json() == {"id": 7}
        # The first `limit` (an integer up to 10) is the one enforced, not the string.
        assert (await client.get("/items/7", params={"limit": "11"})).status_code == 422
        assert (await client.get("/items/7", params={"limit": "many"})).status_code == 422
    assert context.seen == [("limit", 3)]


def _refusal(name: str, out: Path) -> str:
    """The generator's stderr for a document it must refuse (exit 2, no traceback)."""
    spec = f"tests/codegen/repairs/{name}.yaml"
    command = [sys.executable, "-m", "codegen", "generate", "--spec", spec, "--out", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    return done.stderr.strip()


def test_a_repeated_path_parameter_warns_at_its_path() -> None:
    assert _warnings("repeated_path_parameter") == [
        (
            "/paths/~1anything~1{id}~1{action}~1{id}",
            "the path template names a parameter at several places; its first place binds "
            "the value, the later ones match any segment",
        )
    ]


@pytest.mark.parametrize("package", ["repeated_path_parameter"], indirect=True)
async def test_a_repeated_path_parameter_binds_at_its_first_place(package: ModuleType) -> None:
    class Actions:
        async def act(self, ctx: _Context, *, id_: str, action: str) -> Any:
            ctx.seen.append((id_, action))
            return package.responses.default.Act200()

    context = _Context([])
    app = package.build_app(package.Implementation(context=context, default=Actions()))
    async with _client(app) as client:
        assert (await client.get("/anything/7/go/8")).status_code == 200
        assert (await client.get("/anything/7/go")).status_code == 404
    assert context.seen == [("7", "go")]


def test_a_query_string_in_a_path_is_refused_as_such(tmp_path: Path) -> None:
    assert _refusal("query_in_path", tmp_path) == (
        "tests/codegen/repairs/query_in_path.yaml:9: error: the path has a query string "
        "('?query={query}') naming parameters it does not declare `in: path`; a path template "
        "has no query string: declare them `in: query` "
        "(at /paths/~1search~1articles?query={query}/get)"
    )


def test_boolean_exclusive_bounds_in_31_warn_where_they_are() -> None:
    schema = "/paths/~1numbers/get/parameters/0/schema"
    assert _warnings("boolean_exclusive") == [
        (
            f"{schema}/exclusiveMaximum",
            "draft-04 boolean exclusiveMaximum without effect here; ignored",
        ),
        (
            f"{schema}/exclusiveMinimum",
            "draft-04 boolean exclusiveMinimum; read as OpenAPI 3.1's exclusiveMinimum: 10",
        ),
        (
            "/paths/~1numbers/get/parameters/1/schema/exclusiveMaximum",
            "draft-04 boolean exclusiveMaximum without effect here; ignored",
        ),
    ]


@pytest.mark.parametrize("package", ["boolean_exclusive"], indirect=True)
async def test_boolean_exclusive_bounds_are_enforced_as_numbers(package: ModuleType) -> None:
    class Counts:
        async def count(self, ctx: _Context, between: float, below: Any) -> Any:
            return package.responses.default.Count204()

    implementation = package.Implementation(context=_Context([]), default=Counts())
    async with _client(package.build_app(implementation)) as client:
        for value, status in (("10", 422), ("10.5", 204), ("20", 204), ("20.5", 422)):
            answered = await client.get("/numbers", params={"between": value, "below": "3"})
            assert answered.status_code == status, value


def test_schema_examples_as_a_map_warn_and_are_ignored() -> None:
    assert _warnings("schema_examples") == [
        (
            "/components/schemas/Status/examples",
            "a schema's examples is a list, not a map of Example Objects; ignored",
        )
    ]


@pytest.mark.parametrize("package", ["schema_examples"], indirect=True)
async def test_schema_examples_as_a_map_leave_the_mock_answering(package: ModuleType) -> None:
    async with _client(package.build_app(None, mock=True)) as client:
        answered = await client.get("/status")
        assert (answered.status_code, answered.json()) == (200, {"ready": True})
        served = (await client.get("/openapi.json")).json()
    assert "examples" not in served["components"]["schemas"]["Status"]
