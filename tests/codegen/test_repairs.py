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


def test_query_strings_in_paths_warn_at_each_key() -> None:
    served = "an OpenAPI path has no query string; served at"
    assert _warnings("query_in_path") == [
        (
            "/paths/~1history?date_from={date_from}&q={query}",
            f"{served} '/history', with the query parameters date_from, q (the template's "
            "{query})",
        ),
        (
            "/paths/~1numbers~1{country}?{search}=1",
            f"{served} '/numbers/{{country}}', with the query parameters search (its value "
            "'1' ignored)",
        ),
        (
            "/paths/~1search~1articles?query={query}",
            f"{served} '/search/articles', with the query parameters query",
        ),
        (
            "/paths/~1uploads?convert={convert}",
            f"{served} '/uploads', with the query parameters convert",
        ),
        (
            "/paths/~1worker?cmd=checkconstraints&mobile=1",
            f"{served} '/worker', with the query parameters cmd=checkconstraints (required, "
            "that value only), mobile=1 (required, that value only)",
        ),
    ]


@pytest.mark.parametrize("package", ["query_in_path"], indirect=True)
async def test_query_strings_in_paths_are_served_as_query_parameters(
    package: ModuleType,
) -> None:
    r = package.responses.default

    class Queries:
        async def search(self, ctx: _Context, *, query: str) -> Any:
            ctx.seen.append(("search", query))
            return r.Search200()

        async def search_tags(self, ctx: _Context, *, query: str) -> Any:
            ctx.seen.append(("search_tags", query))
            return r.SearchTags200()

        async def history(self, ctx: _Context, *, date_from: Any, q: str) -> Any:
            ctx.seen.append(("history", (str(date_from), q)))
            return r.History200()

        async def upload(self, ctx: _Context, *, convert: str) -> Any:
            ctx.seen.append(("upload", convert))
            return r.Upload204()

        async def numbers(self, ctx: _Context, *, country: str, search: int) -> Any:
            ctx.seen.append(("numbers", (country, search)))
            return r.Numbers200()

        async def check(self, ctx: _Context, *, cmd: str, mobile: str, project: str) -> Any:
            ctx.seen.append(("check", (cmd, mobile, project)))
            return r.Check204()

    context = _Context([])
    app = package.build_app(package.Implementation(context=context, default=Queries()))
    async with _client(app) as client:
        assert (await client.get("/search/articles?query=cats")).status_code == 200
        assert (await client.get("/search/tags?query=dogs")).status_code == 200
        history = await client.get("/history", params={"date_from": "2024-01-31", "q": "x"})
        assert history.status_code == 200
        assert (await client.post("/uploads?convert=pdf")).status_code == 204
        assert (await client.get("/numbers/au?search=61")).status_code == 200
        checked = await client.post("/worker?cmd=checkconstraints&mobile=1&project=p")
        assert checked.status_code == 204
        # The members are required parameters now: validated like any other.
        for method, url in (
            ("GET", "/search/articles"),
            ("GET", "/history?date_from=yesterday&q=x"),
            ("GET", "/numbers/au?search=many"),
            ("POST", "/worker?cmd=other&mobile=1&project=p"),
            ("POST", "/worker?project=p"),
        ):
            refused = await client.request(method, url)
            assert refused.status_code == 422, url
            assert refused.headers["content-type"] == "application/problem+json"
        # A path with the query string in it is no path of the contract.
        assert (await client.get("/search/articles%3Fquery=cats")).status_code == 404
        served = (await client.get("/openapi.json")).json()
    assert context.seen == [
        ("search", "cats"),
        ("search_tags", "dogs"),
        ("history", ("2024-01-31", "x")),
        ("upload", "pdf"),
        ("numbers", ("au", 61)),
        ("check", ("checkconstraints", "1", "p")),
    ]
    # The served contract is the repaired one: its paths have no query string.
    assert sorted(served["paths"]) == [
        "/history",
        "/numbers/{country}",
        "/search/articles",
        "/search/tags",
        "/uploads",
        "/worker",
    ]
    assert served["paths"]["/history"]["get"]["parameters"][1] == {
        "name": "q",
        "in": "query",
        "required": True,
        "schema": {"type": "string"},
    }
    # A reference into a rewritten key follows it.
    assert served["paths"]["/search/tags"]["get"]["parameters"] == [
        {"$ref": "#/paths/~1search~1articles/get/parameters/0"}
    ]
    assert served["paths"]["/worker"]["parameters"][0]["schema"] == {
        "type": "string",
        "enum": ["checkconstraints"],
    }


def test_query_strings_shared_by_a_path_warn_at_each_key() -> None:
    routed = "an OpenAPI path has no query string;"
    assert _warnings("query_routed") == [
        (
            "/paths/~1current?city={city}",
            f"{routed} '/current' serves other operations too, and a request goes to this "
            "one when its query string has city (any value)",
        ),
        (
            "/paths/~1current?lat={lat}&lon={lon}",
            f"{routed} '/current' serves other operations too, and a request goes to this "
            "one when its query string has lat (any value), lon (any value)",
        ),
        (
            "/paths/~1current?{postal_code}=12345",
            f"{routed} '/current' serves other operations too, and a request goes to this "
            "one when its query string has postal_code (any value)",
        ),
        (
            "/paths/~1jobs?op=LISTAFTERID",
            f"{routed} '/jobs' serves other operations too, and a request goes to this "
            "one when its query string has op=LISTAFTERID",
        ),
        (
            "/paths/~1report?format=csv",
            f"{routed} its operation declares a name it fixes, so the key is kept, and a "
            "request goes to this one when its query string has format=csv",
        ),
        (
            "/paths/~1rest?method=photos.get",
            f"{routed} '/rest' serves other operations too, and a request goes to this "
            "one when its query string has method=photos.get",
        ),
        (
            "/paths/~1rest?method=photos.list",
            f"{routed} '/rest' serves other operations too, and a request goes to this "
            "one when its query string has method=photos.list",
        ),
    ]


@pytest.mark.parametrize("package", ["query_routed"], indirect=True)
async def test_operations_sharing_a_path_are_chosen_by_query_string(
    package: ModuleType,
) -> None:
    r = package.responses.default

    class Routed:
        async def get_photo(self, ctx: _Context, *, photo_id: str) -> Any:
            return r.GetPhoto200(body=package.models.GetPhoto200Response(photo=photo_id))

        async def list_photos(self, ctx: _Context) -> Any:
            return r.ListPhotos200(body=["a", "b"])

        async def list_jobs(self, ctx: _Context) -> Any:
            ctx.seen.append(("list_jobs", None))
            return r.ListJobs200()

        async def add_job(self, ctx: _Context) -> Any:
            return r.AddJob204()

        async def list_jobs_after(self, ctx: _Context, *, jobid: Any) -> Any:
            ctx.seen.append(("list_jobs_after", jobid))
            return r.ListJobsAfter200()

        async def current_by_city(self, ctx: _Context, *, city: str) -> Any:
            ctx.seen.append(("city", city))
            return r.CurrentByCity200()

        async def current_by_place(self, ctx: _Context, *, lat: float, lon: float) -> Any:
            ctx.seen.append(("place", (lat, lon)))
            return r.CurrentByPlace200()

        async def current_by_postal_code(self, ctx: _Context, *, postal_code: str) -> Any:
            ctx.seen.append(("postal code", postal_code))
            return r.CurrentByPostalCode200()

        async def report(self, ctx: _Context, *, format_: Any) -> Any:
            ctx.seen.append(("report", format_))
            return r.Report200()

    context = _Context([])
    app = package.build_app(package.Implementation(context=context, default=Routed()))
    async with _client(app) as client:
        photo = await client.get("/rest", params={"method": "photos.get", "photo_id": "7"})
        assert photo.json() == {"photo": "7"}
        assert (await client.get("/rest?method=photos.list")).json() == ["a", "b"]
        # The chosen operation validates its own parameters.
        assert (await client.get("/rest?method=photos.get")).status_code == 422
        # `/jobs` answers what `op=LISTAFTERID` does not select; POST is `/jobs`'s own.
        for url in ("/jobs", "/jobs?op=LISTAFTERID&jobid=3", "/jobs?op=other"):
            assert (await client.get(url)).status_code == 200, url
        assert (await client.post("/jobs?op=LISTAFTERID")).status_code == 204
        assert (await client.get("/current?city=Oslo")).status_code == 200
        assert (await client.get("/current?lat=59.9&lon=10.7")).status_code == 200
        assert (await client.get("/current?postal_code=0150")).status_code == 200
        assert (await client.get("/report?format=csv")).status_code == 200
        # Nothing selected: as for a path nothing is served at. Two selected: ambiguous.
        for url, status in (
            ("/rest", 404),
            ("/rest?method=photos.delete", 404),
            ("/current?lat=59.9", 404),
            ("/current?city=Oslo&lat=59.9&lon=10.7", 400),
            ("/report?format=json", 404),
        ):
            refused = await client.get(url)
            assert refused.status_code == status, url
            assert refused.headers["content-type"] == "application/problem+json"
        ambiguous = await client.get("/current?city=Oslo&lat=59.9&lon=10.7")
        assert "?city={…}, ?lat={…}&lon={…}" in ambiguous.json()["detail"]
        assert (await client.delete("/rest")).status_code == 405
        served = (await client.get("/openapi.json")).json()
    assert context.seen == [
        ("list_jobs", None),
        ("list_jobs_after", "3"),
        ("list_jobs", None),
        ("city", "Oslo"),
        ("place", (59.9, 10.7)),
        ("postal code", "0150"),
        ("report", "csv"),
    ]
    # Served as written: OpenAPI cannot say two operations share a path and a method. The
    # members that take a value are query parameters there too.
    assert "/rest?method=photos.get" in served["paths"]
    lat = served["paths"]["/current?lat={lat}&lon={lon}"]["get"]["parameters"][0]
    assert (lat["name"], lat["in"]) == ("lat", "query")
    # The mock routes them alike.
    async with _client(package.build_app(None, mock=True)) as client:
        assert (await client.get("/rest?method=photos.list")).status_code == 200
        assert (await client.get("/rest")).status_code == 404


def test_query_strings_no_route_could_serve_are_refused_by_name(tmp_path: Path) -> None:
    assert _refusal("query_refused", tmp_path).splitlines() == [
        "tests/codegen/repairs/query_refused.yaml:20: error: this operation and "
        "/paths/~1items?kind={kind}/get share a path and a method, and their query strings ask "
        "the same of a request: none could tell them apart (at /paths/~1items?kind={type}/get)",
        "tests/codegen/repairs/query_refused.yaml:30: error: parameter 'api_key' is the value "
        "of the path's query string member 'key', and is referenced from elsewhere: it cannot "
        "become a query parameter here only (at /paths/~1pictures?key={api_key}/get/parameters/0)",
        "tests/codegen/repairs/query_refused.yaml:9: error: the path's query string member "
        "'id=item-{id}' is neither `name=value` nor `name={parameter}`: declare it `in: query` "
        "(at /paths/~1things?id=item-{id})",
    ]


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


def test_foreign_xml_members_warn_where_they_are() -> None:
    xmlns = "/paths/~1packages/get/responses/200/content/application~1json/schema/properties/xmlns"
    assert _warnings("xml_fields") == [
        (
            f"{xmlns}/xml/example",
            "not a field of the XML Object (which names how XML writes the schema); ignored",
        )
    ]


@pytest.mark.parametrize("package", ["xml_fields"], indirect=True)
async def test_foreign_xml_members_are_ignored_and_the_rest_kept(package: ModuleType) -> None:
    async with _client(package.build_app(None, mock=True)) as client:
        answered = await client.get("/packages")
        assert answered.status_code == 200
        assert set(answered.json()) <= {"xmlns", "xml"}
        served = (await client.get("/openapi.json")).json()
    response = served["paths"]["/packages"]["get"]["responses"]["200"]
    properties = response["content"]["application/json"]["schema"]["properties"]
    assert properties["xmlns"]["xml"] == {"attribute": True, "x-kept": 1}
    assert response["headers"] == {"xml": {"schema": {"type": "string"}}}
    assert served["components"]["schemas"]["xml"] == {"type": "string", "example": "<a/>"}
