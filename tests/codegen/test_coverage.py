"""The generator's real test: generate each coverage spec, implement it here, and let
schemathesis (every check, positive and negative) drive the generated server in-process.

The implementations echo what the generated layer parsed into response schemas that mirror
the inputs, so a parameter read wrongly (a list as a string, a default not applied) fails
response conformance, and an invalid input that gets through fails negative-data rejection.
"""

from __future__ import annotations

import importlib
import json
import logging
import math
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import schemathesis
from pydantic import MISSING, ValidationError
from schemathesis.core.result import Ok

import specfirst
from codegen.generate import load_bundle
from tests.codegen.conftest import HttpSender, served

COVERAGE = Path(__file__).parent / "coverage"
CONFIG = {
    "generation": {"mode": "all", "max-examples": 30, "deterministic": True},
    "checks": {"enabled": True},
}


# Form and multipart fields carry no JSON types: a negative case that turns 0 into "0", null
# into "" or [x] into x serialises to a valid body, so those are fuzzed with valid data only.
POSITIVE_ONLY = [
    {"include-operation-id": "create_note_from_form", "generation": {"mode": "positive"}},
    {"include-operation-id": "upload", "generation": {"mode": "positive"}},
    {"include-operation-id": "submit_picks", "generation": {"mode": "positive"}},
    {"include-operation-id": "order_shipped", "generation": {"mode": "positive"}},  # hooks
    # schemathesis 4.32 does not read 3.2's additionalOperations: the LINK that /notes/{id}
    # documents there is, to it, an undocumented method in the Allow header of a 405.
    {
        "include-operation-id": "read_note",
        "checks": {"allow_header_conformance": {"enabled": False}},
    },
]


def _schema(name: str) -> schemathesis.BaseSchema:
    document = load_bundle(COVERAGE / f"{name}.yaml").document
    config = {**CONFIG, "operations": POSITIVE_ONLY}
    return schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(config))


def _context(info: Any) -> AbstractAsyncContextManager[Any]:
    @asynccontextmanager
    async def open_context() -> AsyncIterator[Any]:
        yield info.principal

    return open_context()


def _package(packages: Path, name: str) -> ModuleType:
    return importlib.import_module(f"cov_{name}")


# ------------------------------------------------------------------ parameters


class ParamsImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg

    async def echo_params(self, ctx: Any, **kwargs: Any) -> Any:
        wire = {
            "id": kwargs["id_"],
            "tags": kwargs["tags"],
            "q": kwargs["q"],
            "n": kwargs["n"],
            "flag": kwargs["flag"],
            "colors": kwargs["colors"],
            "csv": kwargs["csv"],
            "pipes": kwargs["pipes"],
            "range": kwargs["range_"].model_dump(exclude_unset=True) if kwargs["range_"] else None,
            "count": kwargs["x_count"],
            "session": kwargs["session"],
            "day": kwargs["day"],
            "since": kwargs["since"],
            "class": kwargs["class_"],
        }
        body = self.pkg.models.Echo.model_validate({k: v for k, v in wire.items() if v is not None})
        return self.pkg.responses.default.EchoParams200(body=body)


@pytest.fixture(scope="session")
def params_app(packages: Path) -> Any:
    pkg = _package(packages, "params")
    impl = pkg.Implementation(context=_context, default=ParamsImpl(pkg))
    return pkg.build_app(impl, validate_responses=True)


params_schema = _schema("params")


@params_schema.parametrize()
def test_params(case: Any, params_app: Any) -> None:
    case.call_and_validate(app=params_app)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("day=2024-11-05&since=2024-11-05T09:30:00.5%2B01:00", 200),
        ("since=2024-11-05t09:30:00Z", 200),
        ("since=0.5", 422),  # Pydantic alone reads these as Unix times
        ("since=1700000000", 422),
        ("since=2024-11-05", 422),
        ("since=2024-11-05 09:30:00Z", 422),
        ("day=0", 422),
        ("day=2024-11-05T00:00:00Z", 422),
    ],
)
async def test_dates_are_rfc_3339_text(params_app: Any, query: str, status: int) -> None:
    transport = httpx.ASGITransport(app=params_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get(f"/items/1/a?q=x&{query}")
    assert response.status_code == status, response.text


def test_model_dates_are_rfc_3339_text(packages: Path) -> None:
    models = _package(packages, "visibility").models
    item = next(
        c
        for n, c in vars(models).items()
        if n.endswith("Response") and "created_at" in getattr(c, "model_fields", {})
    )
    assert item.model_validate_json('{"name": "a", "created_at": "2024-11-05T09:30:00Z"}')
    with pytest.raises(ValueError, match="RFC 3339"):
        item.model_validate_json('{"name": "a", "created_at": "0.5"}')


# ------------------------------------------------------------------ composition


class CompositionImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg

    async def create_pet(self, ctx: Any, *, body: Any) -> Any:
        return self.pkg.responses.default.CreatePet201(body=body)

    async def area(self, ctx: Any, *, body: Any) -> Any:
        shape = body.root
        size = shape.side**2 if shape.type == "square" else math.pi * shape.radius**2
        measured = self.pkg.models.Measured(shape=shape, area=size)
        return self.pkg.responses.default.Area200(body=measured)


@pytest.fixture(scope="session")
def composition_app(packages: Path) -> Any:
    pkg = _package(packages, "composition")
    impl = pkg.Implementation(context=_context, default=CompositionImpl(pkg))
    return pkg.build_app(impl, validate_responses=True)


composition_schema = _schema("composition")


@composition_schema.parametrize()
def test_composition(case: Any, composition_app: Any) -> None:
    case.call_and_validate(app=composition_app)


# ------------------------------------------------------------------ bodies


class BodiesImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg

    async def create_note(self, ctx: Any, *, body: Any) -> Any:
        fields: dict[str, Any] = {"empty": body is None}
        if body is not None:
            fields["note"] = body
        received = self.pkg.models.Received(**fields)
        return self.pkg.responses.default.CreateNote200(body=received)

    async def create_note_from_form(self, ctx: Any, *, body: Any) -> Any:
        received = self.pkg.models.Received(empty=False, note=body)
        return self.pkg.responses.default.CreateNoteFromForm200(body=received)

    async def put_blob(self, ctx: Any, *, body: bytes) -> Any:
        return self.pkg.responses.default.PutBlob200(body=body)

    async def shout(self, ctx: Any, *, body: str) -> Any:
        return self.pkg.responses.default.Shout200(body=body.upper())


@pytest.fixture(scope="session")
def bodies_app(packages: Path) -> Any:
    pkg = _package(packages, "bodies")
    impl = pkg.Implementation(context=_context, default=BodiesImpl(pkg))
    return pkg.build_app(impl, validate_responses=True)


bodies_schema = _schema("bodies")


@bodies_schema.parametrize()
def test_bodies(case: Any, bodies_app: Any) -> None:
    case.call_and_validate(app=bodies_app)


# ------------------------------------------------------------------ responses


class ResponsesImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg
        self.r = pkg.responses.default

    async def get_thing(self, ctx: Any, *, n: int) -> Any:
        thing = self.pkg.models.Thing(n=n, created=datetime.now(UTC), maybe=None)
        if n == 1:
            return self.r.GetThing204()
        if n % 2 == 0:
            return self.r.GetThing200(body=thing, x_rate=n, x_note="even" if n % 4 else None)
        if n % 3 == 0:
            return self.r.GetThing2XX(status=202, body=thing)
        problem = self.pkg.models.GetThingDefaultResponse(title="Odd", status=409)
        return self.r.GetThingDefault(status=409, body=problem)


@pytest.fixture(scope="session")
def responses_app(packages: Path) -> Any:
    pkg = _package(packages, "responses")
    impl = pkg.Implementation(context=_context, default=ResponsesImpl(pkg))
    return pkg.build_app(impl, validate_responses=True)


responses_schema = _schema("responses")


@responses_schema.parametrize()
def test_responses(case: Any, responses_app: Any) -> None:
    case.call_and_validate(app=responses_app)


# ------------------------------------------------------------------ security


class Authenticator:
    """Accepts bearer `good`, basic `u:p`, and API keys `k`; refuses everything else."""

    async def authenticate(self, credentials: Any, scopes: Any) -> str | None:
        scheme = credentials.scheme
        if scheme.type in ("http", "openIdConnect") and scheme.scheme in ("bearer", ""):
            return "bearer" if credentials.value == "good" else None
        if scheme.scheme == "basic":
            return "basic" if (credentials.username, credentials.password) == ("u", "p") else None
        if scheme.type == "apiKey":
            return "keys" if credentials.value == "k" else None
        return None


class SecurityImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg

    async def whoami(self, ctx: Any) -> Any:
        me = self.pkg.models.Me(principal=ctx or "anonymous")
        return self.pkg.responses.default.Whoami200(body=me)

    async def secret(self, ctx: Any) -> Any:
        return self.pkg.responses.default.Secret200(body=self.pkg.models.Me(principal=ctx))


@pytest.fixture(scope="session")
def security_app(packages: Path) -> Any:
    pkg = _package(packages, "security")
    impl = pkg.Implementation(
        context=_context, authenticator=Authenticator(), default=SecurityImpl(pkg)
    )
    return pkg.build_app(impl, validate_responses=True)


security_schema = _schema("security")


@security_schema.parametrize()
def test_security(case: Any, security_app: Any) -> None:
    case.call_and_validate(app=security_app)


@pytest.mark.parametrize(
    ("headers", "cookies", "query", "expected"),
    [
        ({}, {}, {}, "anonymous"),
        ({"Authorization": "Bearer good"}, {}, {}, "bearer"),
        ({"Authorization": "Basic dTpw"}, {}, {}, "basic"),
        ({}, {"ck": "k"}, {"key": "k"}, "keys"),
    ],
)
async def test_security_alternatives(
    security_app: Any,
    headers: dict[str, str],
    cookies: dict[str, str],
    query: dict[str, str],
    expected: str,
) -> None:
    transport = httpx.ASGITransport(app=security_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", cookies=cookies) as c:
        response = await c.get("/whoami", headers=headers, params=query)
    assert response.status_code == 200
    assert response.json() == {"principal": expected}


async def test_security_and_requires_both_keys(security_app: Any) -> None:
    transport = httpx.ASGITransport(app=security_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        only_query = await client.get("/whoami", params={"key": "k"})
        refused = await client.get("/secret", headers={"Authorization": "Bearer bad"})
        missing = await client.get("/secret")
    # One key alone does not satisfy (queryKey AND cookieKey); anonymous is the fallback.
    assert only_query.json() == {"principal": "anonymous"}
    assert refused.status_code == 401
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="api"'


# ------------------------------------------------------------------ names and shapes


class ClassTag:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg

    async def import_(
        self, ctx: Any, *, from_: str, type_: Any, groe: Any, x_trace_id: Any, body: Any
    ) -> Any:
        return self.pkg.responses.class_.Import200(body=body)


class UnicodeTag:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg

    def _count(self, tree: Any) -> int:
        children = tree.children if tree.children is not MISSING else []
        forest = (
            tree.other.trees
            if tree.other is not MISSING and tree.other.trees is not MISSING
            else []
        )
        return 1 + sum(self._count(t) for t in [*children, *forest])

    async def post_trees(self, ctx: Any, *, body: Any) -> Any:
        count = self.pkg.models.Count(nodes=self._count(body))
        return self.pkg.responses.unicode_tag.PostTrees200(body=count)


class DefaultTag:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg

    async def put_maps(self, ctx: Any) -> Any:
        return self.pkg.responses.default.PutMaps204()

    async def put_maps2(self, ctx: Any, *, body: Any) -> Any:
        return self.pkg.responses.default.PutMaps2_200(body=body)


@pytest.fixture(scope="session")
def names_app(packages: Path) -> Any:
    pkg = _package(packages, "names")
    impl = pkg.Implementation(
        context=_context,
        class_=ClassTag(pkg),
        unicode_tag=UnicodeTag(pkg),
        default=DefaultTag(pkg),
    )
    return pkg.build_app(impl, validate_responses=True)


names_schema = _schema("names")


@names_schema.parametrize()
def test_names(case: Any, names_app: Any) -> None:
    case.call_and_validate(app=names_app)


# ------------------------------------------------------------------ readOnly / writeOnly


class VisibilityImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg
        self.opened = 0

    async def open_account(self, ctx: Any, *, body: Any) -> Any:
        self.opened += 1
        owner = self.pkg.models.PersonResponse(name=body.owner.name, created_at=datetime.now(UTC))
        account = self.pkg.models.AccountResponse(id=self.opened, owner=owner)
        return self.pkg.responses.default.OpenAccount201(body=account)


@pytest.fixture(scope="session")
def visibility_app(packages: Path) -> Any:
    pkg = _package(packages, "visibility")
    impl = pkg.Implementation(context=_context, default=VisibilityImpl(pkg))
    return pkg.build_app(impl, validate_responses=True)


visibility_schema = _schema("visibility")


@visibility_schema.parametrize()
def test_visibility(case: Any, visibility_app: Any) -> None:
    case.call_and_validate(app=visibility_app)


async def test_read_only_not_required_and_write_only_not_returned(visibility_app: Any) -> None:
    transport = httpx.ASGITransport(app=visibility_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/accounts", json={"owner": {"name": "Ada"}, "pin": "1234"})
    assert response.status_code == 201
    body = response.json()
    assert "pin" not in body
    assert body["id"] >= 1
    assert "created_at" in body["owner"]


# ------------------------------------------------------------------ styles, multipart, media types


class StylesImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg
        self.r = pkg.responses.default

    async def label_ids(self, ctx: Any, *, ids: list[int]) -> Any:
        return self.r.LabelIds200(body=self.pkg.models.Ids(ids=ids))

    async def matrix_id(self, ctx: Any, *, id_: int) -> Any:
        return self.r.MatrixId200(body=self.pkg.models.Ids(ids=[id_]))

    async def search(self, ctx: Any, *, filter_: Any, level: int | None) -> Any:
        if level == 3:
            return self.r.Search200(body=f"name\n{filter_.name}\n", media_type="text/csv")
        return self.r.Search200(body=filter_)

    async def upload(self, ctx: Any, *, body: Any) -> Any:
        extras = body.extras if body.extras is not MISSING else []
        sizes = self.pkg.models.Sizes(
            title=body.title, file=len(body.file), extras=[len(e) for e in extras]
        )
        return self.r.Upload201(body=sizes)

    async def image(self, ctx: Any) -> Any:
        return self.r.Image200(body=b"\x89PNG\r\n\x1a\n")


@pytest.fixture(scope="session")
def styles_app(packages: Path) -> Any:
    pkg = _package(packages, "styles")
    impl = pkg.Implementation(context=_context, default=StylesImpl(pkg))
    return pkg.build_app(impl, validate_responses=True)


def _json_schema(name: str) -> schemathesis.BaseSchema:
    document = load_bundle(COVERAGE / f"{name}.json").document
    config = {**CONFIG, "operations": POSITIVE_ONLY}
    return schemathesis.openapi.from_dict(document, config=schemathesis.Config.from_dict(config))


styles_schema = _json_schema("styles")


@styles_schema.parametrize()
def test_styles(case: Any, styles_app: Any) -> None:
    case.call_and_validate(app=styles_app)


@pytest.mark.parametrize(
    ("path", "ids"),
    [("/label/.1,2,3", [1, 2, 3]), ("/label/.7", [7]), ("/matrix/;id=5", [5])],
)
async def test_label_and_matrix_paths(styles_app: Any, path: str, ids: list[int]) -> None:
    transport = httpx.ASGITransport(app=styles_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    assert response.json() == {"ids": ids}


async def test_multipart_files_and_media_type_choice(styles_app: Any) -> None:
    transport = httpx.ASGITransport(app=styles_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        upload = await client.post(
            "/uploads",
            data={"title": "two"},
            files=[("file", b"abc"), ("extras", b"12345"), ("extras", b"1")],
        )
        csv = await client.get("/search", params={"filter": '{"name": "x"}', "level": "3"})
        image = await client.get("/image")
    assert upload.status_code == 201, upload.text
    assert upload.json() == {"title": "two", "file": 3, "extras": [5, 1]}
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text == "name\nx\n"
    assert image.headers["content-type"] == "image/png"


# ------------------------------------------------------------------ tuples (prefixItems)


class TuplesImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.r = pkg.responses.default

    async def echo_point(self, ctx: Any, *, body: tuple[float, float]) -> Any:
        return self.r.EchoPoint200(body=body)

    async def echo_row(self, ctx: Any, *, body: Any) -> Any:
        return self.r.EchoRow200(body=body)

    async def echo_shape(self, ctx: Any, *, body: Any) -> Any:
        return self.r.EchoShape200(body=body)


@pytest.fixture(scope="session")
def tuples_app(packages: Path) -> Any:
    pkg = _package(packages, "tuples")
    impl = pkg.Implementation(context=_context, default=TuplesImpl(pkg))
    return pkg.build_app(impl, validate_responses=True)


# schemathesis 4.32 generates prefixItems cases but cannot validate responses against them
# (it reads the schema as draft 4, where `items` is a list), so the behaviour is pinned with
# direct requests to the generated app.
VALID_TUPLES = [
    ("/points", [1.5, -2]),
    ("/rows", ["ab"]),
    ("/rows", ["ab", 0]),
    ("/rows", ["ab", 7, {"text": "x"}]),
    ("/rows", ["ab", 7, {"text": "x"}, True, False, True]),
    ("/shapes", {"corner": [0, 1], "path": []}),
    ("/shapes", {"corner": [0, 1], "size": [3], "path": [[1, 2], [3, 4.5]]}),
    ("/shapes", {"corner": [0, 1], "size": [3, 4], "path": [[1, 2]]}),
]


@pytest.mark.parametrize(("path", "body"), VALID_TUPLES)
async def test_tuples_accepted_and_answered_as_arrays(
    tuples_app: Any, path: str, body: Any
) -> None:
    transport = httpx.ASGITransport(app=tuples_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == body


INVALID_TUPLES = [
    ("/points", [1, "x"], "/1", "float_type"),
    ("/points", [1], "", "too_short"),
    ("/points", [1, 2, 3], "", "too_long"),
    ("/points", {"0": 1, "1": 2}, "", "tuple_type"),
    ("/rows", [], "", "too_short"),
    ("/rows", [1], "/0", "string_type"),
    ("/rows", ["toolong"], "/0", "string_too_long"),
    ("/rows", ["ab", -1], "/1", "greater_than_equal"),
    ("/rows", ["ab", 1, {"text": 2}], "/2/text", "string_type"),
    ("/rows", ["ab", 1, {"text": "x"}, True, "yes"], "/4", "bool_type"),
    ("/rows", ["ab", 1, {"text": "x"}, True, True, True, True], "", "too_long"),
    ("/shapes", {"corner": [0, 1], "size": [0], "path": []}, "/size/0", "greater_than_equal"),
    ("/shapes", {"corner": [0, 1], "size": [], "path": []}, "/size", "too_short"),
    ("/shapes", {"corner": [0, 1], "path": [[1, 2], [1]]}, "/path/1", "too_short"),
]


@pytest.mark.parametrize(("path", "body", "pointer", "code"), INVALID_TUPLES)
async def test_tuples_wrong_positions_rejected(
    tuples_app: Any, path: str, body: Any, pointer: str, code: str
) -> None:
    transport = httpx.ASGITransport(app=tuples_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(path, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    assert {"pointer": f"/body{pointer}", "code": code} in [
        {"pointer": e["pointer"], "code": e["code"]} for e in errors
    ], errors


# ------------------------------------------------------------------ $ref siblings


class RefsImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg

    async def create_item(
        self, ctx: Any, *, code: str, vowel: str | None, limit: int | None, body: Any
    ) -> Any:
        read = {"query_limit": limit, "query_vowel": vowel}
        sent = body.model_dump(exclude_unset=True, exclude={"secret", "query_code", *read})
        sent["count"] = body.count  # the default, if none was sent
        item = self.pkg.models.ItemResponse(
            **sent, id=7, query_code=code, **{k: v for k, v in read.items() if v is not None}
        )
        return self.pkg.responses.default.CreateItem200(body=item)


@pytest.fixture(scope="session")
def refs_app(packages: Path) -> Any:
    pkg = _package(packages, "refs")
    impl = pkg.Implementation(context=_context, default=RefsImpl(pkg))
    return pkg.build_app(impl, validate_responses=True)


refs_schema = _schema("refs")


@refs_schema.parametrize()
def test_refs(case: Any, refs_app: Any) -> None:
    case.call_and_validate(app=refs_app)


@pytest.mark.parametrize(
    ("query", "body", "pointer"),
    [
        ({}, {"code": "abcde"}, "/body/code"),  # the sibling maxLength, tighter than Code's
        ({}, {"code": "ABC"}, "/body/code"),  # Code's own pattern still holds
        ({}, {"code": "ab", "count": 11}, "/body/count"),
        ({"code": "abcde"}, {"code": "ab"}, "/query/code"),
        ({"limit": "11"}, {"code": "ab"}, "/query/limit"),
        ({"limit": "-1"}, {"code": "ab"}, "/query/limit"),
        # A sibling pattern and the target's both hold: the sibling's, then Code's own.
        ({}, {"code": "ab", "vowel_code": "xyz"}, "/body/vowel_code"),
        ({}, {"code": "ab", "vowel_code": "AE"}, "/body/vowel_code"),
        ({"vowel": "xyz"}, {"code": "ab"}, "/query/vowel"),
        ({"vowel": "AE"}, {"code": "ab"}, "/query/vowel"),
    ],
)
async def test_ref_sibling_constraints_apply(
    refs_app: Any, query: dict[str, str], body: Any, pointer: str
) -> None:
    transport = httpx.ASGITransport(app=refs_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/items", params=query, json=body)
    assert response.status_code == 422
    assert pointer in [e["pointer"] for e in response.json()["errors"]]


async def test_ref_sibling_default_read_only_and_write_only(refs_app: Any) -> None:
    transport = httpx.ASGITransport(app=refs_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post(
            "/items", json={"code": "ab", "secret": "hush", "vowel_code": "ae"}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["query_code"] == "abc"  # the sibling default of the parameter
    assert body["count"] == 1  # the sibling default of the property
    assert body["vowel_code"] == "ae"  # matches Code's pattern and its sibling's
    assert body["id"] == 7  # readOnly: not expected in the request, sent back
    assert "secret" not in body  # writeOnly: accepted, never sent back


# ------------------------------------------------------------------ uniqueItems


class UniqueImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg
        self.r = pkg.responses.default

    async def echo_basket(
        self,
        ctx: Any,
        *,
        keys: list[str],
        ids: list[int] | None,
        weights: list[float] | None,
        x_codes: list[str] | None,
        flavours: list[str] | None,
        body: Any,
    ) -> Any:
        echo = self.pkg.models.Echo(
            basket=body, keys=keys, ids=ids, weights=weights, codes=x_codes, flavours=flavours
        )
        return self.r.EchoBasket200(body=echo)

    async def echo_values(self, ctx: Any, *, body: list[Any]) -> Any:
        return self.r.EchoValues200(body=body)

    async def submit_picks(self, ctx: Any, *, body: Any) -> Any:
        sent = body.model_dump(exclude_unset=True)
        return self.r.SubmitPicks200(body=self.pkg.models.SubmitPicks200Response(**sent))


@pytest.fixture(scope="session")
def unique_app(packages: Path) -> Any:
    pkg = _package(packages, "unique")
    impl = pkg.Implementation(context=_context, default=UniqueImpl(pkg))
    return pkg.build_app(impl, validate_responses=True)


unique_schema = _schema("unique")


@unique_schema.parametrize()
def test_unique(case: Any, unique_app: Any) -> None:
    case.call_and_validate(app=unique_app)


BASKET: dict[str, Any] = {
    "name": "b",
    "labels": ["x", "y"],
    "tags": ["a", "b"],
    "lines": [{"sku": "s", "options": ["red", "blue"]}, {"sku": "s", "options": ["red", "blue"]}],
    "grid": [[1, 2], [2, 1]],
    "points": [{"x": 1, "y": 2}, {"x": 2, "y": 1}],
    "anything": [1, True, "1", None, {"a": 1}, [1]],
    "choice": [1, 2],
    "tree": {"name": "t", "children": [{"name": "a"}, {"name": "b"}]},
}


async def _post_basket(
    app: Any,
    body: Any,
    url: str = "/baskets/a,b",
    cookies: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://t", cookies=cookies
    ) as client:
        return await client.post(url, json=body, **kwargs)


def _pointers(response: Any) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return [(e["pointer"], e["code"]) for e in response.json()["errors"]]


async def test_unique_items_accepted_in_order(unique_app: Any) -> None:
    response = await _post_basket(
        unique_app,
        BASKET,
        url="/baskets/b,a?ids=3&ids=1&weights=0.5,1",
        headers={"x-codes": "p, q"},
        cookies={"flavours": "sour,sweet"},
    )
    assert response.status_code == 200, response.text
    echo = response.json()
    assert echo["basket"] == BASKET
    assert echo["keys"] == ["b", "a"]
    assert (echo["ids"], echo["weights"]) == ([3, 1], [0.5, 1])
    assert (echo["codes"], echo["flavours"]) == (["p", "q"], ["sour", "sweet"])


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"tags": ["a", "a"]}, "/body/tags"),  # a component that is a uniqueItems array
        ({"labels": ["x", "x"]}, "/body/labels"),  # a $ref sibling, through allOf
        ({"lines": [{"sku": "s", "options": ["red", "red"]}]}, "/body/lines/0/options"),
        ({"grid": [[1, 2], [1, 2]]}, "/body/grid"),
        ({"grid": [[1], [2, 2]]}, "/body/grid/1"),
        ({"points": [{"x": 1, "y": 2}, {"y": 2, "x": 1.0}]}, "/body/points"),
        ({"anything": [{"a": 1, "b": [2]}, {"b": [2.0], "a": 1}]}, "/body/anything"),
        ({"anything": [None, None]}, "/body/anything"),
        (
            {"tree": {"name": "t", "children": [{"name": "a"}, {"name": "a"}]}},
            "/body/tree/children",
        ),
        (
            {"tree": {"name": "t", "children": [{"name": "a", "children": [{"name": "b"}] * 2}]}},
            "/body/tree/children/0/children",
        ),
        ({"defaults": [1, 1]}, "/body/defaults"),
    ],
)
async def test_duplicate_items_rejected_in_bodies(
    unique_app: Any, change: dict[str, Any], pointer: str
) -> None:
    response = await _post_basket(unique_app, {**BASKET, **change})
    assert (pointer, "unique_items") in _pointers(response)


async def test_duplicate_items_rejected_in_a_one_of_branch(unique_app: Any) -> None:
    response = await _post_basket(unique_app, {**BASKET, "choice": [1, 1]})
    # Pydantic reports each branch; the array's names no step of its own.
    assert _pointers(response) == [
        ("/body/choice", "unique_items"),
        ("/body/choice/str", "string_type"),
    ]


@pytest.mark.parametrize(
    ("url", "kwargs", "pointer"),
    [
        ("/baskets/a,a", {}, "/path/keys"),
        ("/baskets/a?ids=1&ids=2&ids=1", {}, "/query/ids"),
        ("/baskets/a?weights=1,1.0", {}, "/query/weights"),  # equal as numbers
        ("/baskets/a", {"headers": {"x-codes": "p, p"}}, "/header/x-codes"),
        ("/baskets/a", {"cookies": {"flavours": "sour,sour"}}, "/cookie/flavours"),
    ],
)
async def test_duplicate_items_rejected_in_parameters(
    unique_app: Any, url: str, kwargs: dict[str, Any], pointer: str
) -> None:
    response = await _post_basket(unique_app, BASKET, url=url, **kwargs)
    assert (pointer, "unique_items") in _pointers(response)


@pytest.mark.parametrize(
    ("values", "unique"),
    [
        ([1, 1.0], False),  # one number
        ([1, True], True),
        ([0, False], True),
        (["1", 1], True),
        ([1.5, 1.5], False),
        ([{"a": 1, "b": 2}, {"b": 2, "a": 1}], False),  # member order does not count
        ([{"a": 1}, {"a": 1, "b": None}], True),
        ([[1, 2], [2, 1]], True),  # item order does
        ([[1, [2]], [1.0, [2.0]]], False),
        ([None, None], False),
        (["a", "b", "a"], False),
        ([], True),
    ],
)
async def test_json_equality(unique_app: Any, values: list[Any], unique: bool) -> None:
    response = await _post_basket(unique_app, values, url="/values")
    if unique:
        assert response.status_code == 200, response.text
        assert response.json() == values
    else:
        assert _pointers(response) == [("/body", "unique_items")]


@pytest.mark.parametrize(
    ("form", "pointer"),
    [("picks=a&picks=a", "/body/picks"), ("picks=a&numbers=1&numbers=1.0", "/body/numbers")],
)
async def test_duplicate_items_rejected_in_forms(unique_app: Any, form: str, pointer: str) -> None:
    transport = httpx.ASGITransport(app=unique_app)
    headers = {"content-type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/picks", content=form, headers=headers)
        accepted = await client.post("/picks", content="picks=a&picks=b", headers=headers)
    assert _pointers(response) == [(pointer, "unique_items")]
    assert accepted.status_code == 200
    assert accepted.json() == {"picks": ["a", "b"]}


def test_models_refuse_duplicates_in_answers(packages: Path) -> None:
    models = _package(packages, "unique").models
    with pytest.raises(ValidationError, match="unique"):
        models.Echo(basket={"name": "b"}, keys=["a", "a"])
    assert models.Echo(basket={"name": "b"}, keys=["a", "b"]).keys == ["a", "b"]
    assert models.Basket(name="b").defaults == [3, 1, 2]  # a default keeps its order


# ------------------------------------------------------------------ errors in the document's shape


class ErrorsImpl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg
        self.r = pkg.responses.default

    async def create_note(self, ctx: Any, *, body: Any) -> Any:
        return self.r.CreateNote201(body=body)

    async def get_note(self, ctx: Any, *, id_: int) -> Any:
        if id_ > 100:
            raise NoteMissingError
        return self.r.GetNote200(body=self.pkg.models.Note(title=f"note {id_}"))

    async def replace_note(self, ctx: Any, *, id_: int, body: Any) -> Any:
        if id_ > 100:
            raise NoteMissingError
        return self.r.ReplaceNote200(body=body)

    async def list_labels(self, ctx: Any, *, limit: int | None) -> Any:
        labels = self.pkg.models.ListLabels200Response([f"label {n}" for n in range(limit or 1)])
        return self.r.ListLabels200(body=labels)


class NoteMissingError(Exception):
    """Raised as the project's own ApiError subclass would be (see errors_app)."""


def error_renderer(pkg: ModuleType) -> Any:
    """The implementation's ProblemRenderer: every problem as the document's ``Error``, in
    whichever response the operation documents for its status."""

    def render(problem: Any, operation: Any) -> object | None:
        if operation is None:
            return None
        spec = operation.response(problem.status)
        if spec is None or spec.media_type != "application/json":
            return None  # undocumented, or documented as problem+json: the default
        reasons = [f"{e.pointer}: {e.message}" for e in problem.errors]
        body = pkg.models.Error(code=problem.status, message="; ".join([problem.detail, *reasons]))
        fields: dict[str, Any] = {"body": body}
        if spec.status == "default" or spec.status.endswith("XX"):
            fields["status"] = problem.status
        if any(header.attribute == "x_error_code" for header in spec.headers):
            fields["x_error_code"] = problem.status
        rendered: object = spec.cls(**fields)
        return rendered

    return render


def _errors_impl(pkg: ModuleType, **overrides: Any) -> Any:
    missing = type(
        "NoteMissing",
        (pkg.ApiError, NoteMissingError),
        {"status": 404, "title": "Not Found", "detail": "No such note"},
    )
    impl = ErrorsImpl(pkg)

    class Raising(ErrorsImpl):
        async def get_note(self, ctx: Any, *, id_: int) -> Any:
            try:
                return await impl.get_note(ctx, id_=id_)
            except NoteMissingError:
                raise missing from None

        async def replace_note(self, ctx: Any, *, id_: int, body: Any) -> Any:
            try:
                return await impl.replace_note(ctx, id_=id_, body=body)
            except NoteMissingError:
                raise missing from None

    fields = {
        "context": _context,
        "authenticator": Authenticator(),
        "default": Raising(pkg),
        "problems": error_renderer(pkg),
        **overrides,
    }
    return pkg.Implementation(**fields)


@pytest.fixture(scope="session")
def errors_app(packages: Path) -> Any:
    pkg = _package(packages, "errors")
    return pkg.build_app(_errors_impl(pkg), validate_responses=True)


errors_schema = _schema("errors")


@errors_schema.parametrize()
def test_errors(case: Any, errors_app: Any) -> None:
    case.call_and_validate(app=errors_app)


async def _send(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, url, **kwargs)


GOOD = {"Authorization": "Bearer good"}


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status", "says"),
    [
        ("POST", "/notes", {"json": {"title": ""}}, 422, "/body/title"),  # its own 422
        (
            "POST",
            "/notes",
            {"content": b"{", "headers": {"content-type": "application/json"}},
            400,
            "JSON",
        ),
        (
            "POST",
            "/notes",
            {"content": b"x", "headers": {"content-type": "text/plain"}},
            415,
            "text/plain",
        ),
        ("GET", "/notes/1", {}, 401, "credentials"),  # its own 401
        ("GET", "/notes/1", {"headers": {"Authorization": "Bearer bad"}}, 401, "credentials"),
        ("GET", "/notes/101", {"headers": GOOD}, 404, "No such note"),  # a handler's ApiError
        ("GET", "/notes/0", {"headers": GOOD}, 422, "/path/id"),  # by default
        ("PUT", "/notes/0", {"headers": GOOD, "json": {"title": "a"}}, 422, "/path/id"),  # 4XX
        ("PUT", "/notes/101", {"headers": GOOD, "json": {"title": "a"}}, 404, "No such note"),
    ],
)
async def test_errors_answered_in_the_documented_shape(
    errors_app: Any, method: str, url: str, kwargs: dict[str, Any], status: int, says: str
) -> None:
    response = await _send(errors_app, method, url, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == status
    assert says in body["message"]
    if status == 401:
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'
    if status == 415:
        assert response.headers["accept"] == "application/json"
    if url.startswith("/notes/") and method == "PUT":
        assert response.headers["x-error-code"] == str(status)  # the 4XX's required header


async def test_documented_problem_json_stays(errors_app: Any) -> None:
    response = await _send(errors_app, "GET", "/labels?limit=0")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == "/query/limit"


async def test_routing_errors_have_no_operation(packages: Path) -> None:
    pkg = _package(packages, "errors")
    seen: list[tuple[int, Any]] = []
    render = error_renderer(pkg)

    def recording(problem: Any, operation: Any) -> Any:
        seen.append((problem.status, operation))
        if operation is None and problem.status == 405:
            # Any response class of the API may render a problem no operation had.
            error = pkg.models.Error(code=405, message=problem.detail)
            return pkg.responses.default.GetNoteDefault(status=405, body=error)
        return render(problem, operation)

    app = pkg.build_app(_errors_impl(pkg, problems=recording))
    missing = await _send(app, "GET", "/nowhere")
    not_allowed = await _send(app, "DELETE", "/notes/1")
    assert seen == [(404, None), (405, None)]
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert not_allowed.status_code == 405
    assert not_allowed.headers["content-type"] == "application/json"
    assert not_allowed.headers["allow"] == "GET, PUT"  # HTTP's header, kept
    assert not_allowed.json() == {"code": 405, "message": "DELETE is not allowed on /notes/1."}


async def test_a_renderer_that_raises_falls_back_to_the_problem(
    packages: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pkg = _package(packages, "errors")

    def broken(problem: Any, operation: Any) -> object | None:
        raise RuntimeError("renderer bug")

    app = pkg.build_app(_errors_impl(pkg, problems=broken))
    with caplog.at_level(logging.ERROR, logger="specfirst"):
        response = await _send(app, "POST", "/notes", json={"title": ""})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["pointer"] == "/body/title"
    assert "the problem renderer failed on a 422 problem of create_note" in caplog.text
    assert "renderer bug" in caplog.text  # with its traceback


async def test_an_undocumented_class_from_the_renderer_is_a_500(
    packages: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pkg = _package(packages, "errors")
    note = pkg.models.Note(title="wrong")

    def wrong(problem: Any, operation: Any) -> Any:
        return pkg.responses.default.CreateNote201(body=note)  # not get_note's

    app = pkg.build_app(_errors_impl(pkg, problems=wrong))
    with caplog.at_level(logging.ERROR, logger="specfirst"):
        response = await _send(app, "GET", "/notes/1")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "get_note returned CreateNote201, which is not one of its documented" in caplog.text


async def test_server_errors_and_missing_operations_in_the_documented_shape(
    packages: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pkg = _package(packages, "errors")

    class Buggy(ErrorsImpl):
        async def get_note(self, ctx: Any, *, id_: int) -> Any:
            raise ZeroDivisionError

    app = pkg.build_app(_errors_impl(pkg, default=Buggy(pkg)))
    with caplog.at_level(logging.ERROR, logger="specfirst"):
        crashed = await _send(app, "GET", "/notes/1", headers=GOOD)
    assert crashed.status_code == 500
    assert crashed.headers["content-type"] == "application/json"
    assert crashed.json()["code"] == 500
    assert "ZeroDivisionError" in caplog.text

    unimplemented = pkg.build_app(_errors_impl(pkg, default=None), allow_missing=True)
    response = await _send(unimplemented, "GET", "/labels")
    assert response.status_code == 501
    assert response.json() == {
        "code": 501,
        "message": "Operation list_labels has no implementation yet.",
    }


def test_without_a_renderer_one_warning_counts_the_operations(
    packages: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pkg = _package(packages, "errors")
    with caplog.at_level(logging.WARNING, logger="specfirst"):
        pkg.build_app(_errors_impl(pkg, problems=None))
        pkg.build_app(_errors_impl(pkg))
        _package(packages, "security").build_app(None, allow_missing=True)  # problem+json
    assert [r.getMessage()[:80] for r in caplog.records] == [
        "4 of 4 operations (create_note, get_note, replace_note, …) document error bodies"
    ]


# ------------------------------------------------------------------ OpenAPI 3.2: streams, methods


class Oas32Impl:
    """Ticks in each sequential media type, the QUERY method, an additional method (LINK),
    and the query string as one parameter, form-encoded and JSON."""

    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg
        self.r = pkg.responses.default

    async def _ticks(self, count: int) -> AsyncIterator[Any]:
        for n in range(count):
            yield self.pkg.models.Tick(n=n, label=f"tick {n}")

    async def tick_lines(self, ctx: Any, *, count: int) -> Any:
        return self.r.TickLines200(body=self._ticks(count))

    async def tick_ndjson(self, ctx: Any, *, count: int) -> Any:
        return self.r.TickNdjson200(body=self._ticks(count))

    async def tick_seq(self, ctx: Any, *, count: int) -> Any:
        return self.r.TickSeq200(body=self._ticks(count))

    async def tick_events(self, ctx: Any, *, count: int) -> Any:
        event = self.pkg.models.TickEvents200ResponseItem

        async def events() -> AsyncIterator[Any]:
            async for tick in self._ticks(count):
                yield event(event="tick", id=str(tick.n), data=tick)
            done = self.pkg.models.Tick(n=count, label="done")
            yield event(event="done", retry=1000, data=done)

        return self.r.TickEvents200(body=events())

    async def tick_messages(self, ctx: Any, *, count: int) -> Any:
        message = self.pkg.models.TickMessages200ResponseItem

        async def messages() -> AsyncIterator[Any]:
            for n in range(count):
                yield message(data=f"tick {n}\nof {count}")

        return self.r.TickMessages200(body=messages())

    async def search_notes(self, ctx: Any, *, body: Any) -> Any:
        notes = [self.pkg.models.Note(id=i, title=body.term) for i in range(1, body.limit + 1)]
        return self.r.SearchNotes200(body=self.pkg.models.Matches(term=body.term, notes=notes))

    async def read_note(self, ctx: Any, *, id_: int) -> Any:
        return self.r.ReadNote200(body=self.pkg.models.Note(id=id_, title=f"note {id_}"))

    async def link_note(self, ctx: Any, *, id_: int, to: int) -> Any:
        return self.r.LinkNote200(body=self.pkg.models.Link.model_validate({"from": id_, "to": to}))

    async def find_notes(self, ctx: Any, *, filter_: Any) -> Any:
        return self.r.FindNotes200(body=filter_)

    async def find_notes_by_json(self, ctx: Any, *, filter_: Any) -> Any:
        return self.r.FindNotesByJson200(body=filter_)


@pytest.fixture(scope="session")
def oas32_app(packages: Path) -> Any:
    pkg = _package(packages, "oas32")
    return pkg.build_app(pkg.Implementation(context=_context, default=Oas32Impl(pkg)))


oas32_schema = _schema("oas32")


@oas32_schema.parametrize()
def test_oas32(case: Any, oas32_app: Any) -> None:
    case.call_and_validate(app=oas32_app)


def test_oas32_operations_are_all_fuzzed() -> None:
    # schemathesis 4.32 reads 3.2's query method; additionalOperations it does not see.
    results = list(oas32_schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results)
    fuzzed = {op.definition.raw["operationId"] for op in operations}
    assert fuzzed == {
        "tick_lines",
        "tick_ndjson",
        "tick_seq",
        "tick_events",
        "tick_messages",
        "search_notes",
        "read_note",
        "find_notes",
        "find_notes_by_json",
    }


async def test_streams_in_each_sequential_media_type(oas32_app: Any) -> None:
    ticks = [{"n": 0, "label": "tick 0"}, {"n": 1, "label": "tick 1"}]
    lines = b'{"n":0,"label":"tick 0"}\n{"n":1,"label":"tick 1"}\n'
    for path, media_type in [("lines", "application/jsonl"), ("ndjson", "application/x-ndjson")]:
        response = await _send(oas32_app, "GET", f"/ticks/{path}?count=2")
        assert response.headers["content-type"] == media_type
        assert response.content == lines
        assert [json.loads(line) for line in response.text.splitlines()] == ticks
    seq = await _send(oas32_app, "GET", "/ticks/seq?count=2")
    assert seq.headers["content-type"] == "application/json-seq"
    assert seq.content == b"".join(b"\x1e" + line + b"\n" for line in lines.splitlines())
    empty = await _send(oas32_app, "GET", "/ticks/lines?count=0")
    assert (empty.status_code, empty.content) == (200, b"")


async def test_server_sent_events_map_the_item_fields(oas32_app: Any) -> None:
    events = await _send(oas32_app, "GET", "/ticks/events?count=1")
    assert events.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert events.headers["cache-control"] == "no-cache"
    assert events.text == (
        'event: tick\nid: 0\ndata: {"n":0,"label":"tick 0"}\n\n'
        'event: done\nretry: 1000\ndata: {"n":1,"label":"done"}\n\n'
    )
    messages = await _send(oas32_app, "GET", "/ticks/messages?count=1")
    assert messages.text == "data: tick 0\ndata: of 1\n\n"  # text data as is, a line per line


class _Recorded:
    """A context factory that records when each context opens and closes, and how."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def __call__(self, info: Any) -> AbstractAsyncContextManager[Any]:
        @asynccontextmanager
        async def open_context() -> AsyncIterator[Any]:
            self.events.append("open")
            try:
                yield self
            except BaseException as exc:
                self.events.append(f"close {type(exc).__name__}")
                raise
            self.events.append("close")

        return open_context()


async def test_a_stream_keeps_the_context_open_until_it_ends(packages: Path) -> None:
    pkg = _package(packages, "oas32")
    recorded = _Recorded()

    class Reading(Oas32Impl):
        async def _ticks(self, count: int) -> AsyncIterator[Any]:
            for n in range(count):
                recorded.events.append(f"tick {n}")
                yield self.pkg.models.Tick(n=n, label="read in the context")

    app = pkg.build_app(pkg.Implementation(context=recorded, default=Reading(pkg)))
    response = await _send(app, "GET", "/ticks/lines?count=2")
    assert response.status_code == 200
    assert recorded.events == ["open", "tick 0", "tick 1", "close"]
    recorded.events.clear()
    await _send(app, "GET", "/notes/3")
    assert recorded.events == ["open", "close"]


async def test_an_invalid_stream_item_is_logged_and_ends_the_stream(
    packages: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pkg = _package(packages, "oas32")
    recorded = _Recorded()

    class Broken(Oas32Impl):
        async def _ticks(self, count: int) -> AsyncIterator[Any]:
            yield self.pkg.models.Tick(n=0, label="fine")
            yield self.pkg.models.Tick.model_construct(n=-1, label="")  # skipped validation
            yield self.pkg.models.Tick(n=2, label="never sent")

        async def tick_ndjson(self, ctx: Any, *, count: int) -> Any:
            async def failing() -> AsyncIterator[Any]:
                yield self.pkg.models.Tick(n=0, label="fine")
                raise RuntimeError("the source went away")

            return self.r.TickNdjson200(body=failing())

    app = pkg.build_app(pkg.Implementation(context=recorded, default=Broken(pkg)))
    with caplog.at_level(logging.ERROR, logger="specfirst"):
        invalid = await _send(app, "GET", "/ticks/lines?count=3")
        failed = await _send(app, "GET", "/ticks/ndjson?count=3")
    # The status line went out with the first item: the stream ends before the bad one.
    assert (invalid.status_code, invalid.content) == (200, b'{"n":0,"label":"fine"}\n')
    assert (failed.status_code, failed.content) == (200, b'{"n":0,"label":"fine"}\n')
    assert "tick_lines: stream item 1 does not match the contract" in caplog.text
    assert "greater_than_equal" in caplog.text or "greater than or equal" in caplog.text
    assert "tick_ndjson: the stream failed after 1 items" in caplog.text
    assert "the source went away" in caplog.text  # with its traceback
    # The context closes with what ended the stream (a transaction would roll back).
    assert recorded.events == ["open", "close ValidationError", "open", "close RuntimeError"]


async def test_query_method_and_additional_operations(oas32_app: Any) -> None:
    found = await _send(oas32_app, "QUERY", "/search/notes", json={"term": "x", "limit": 2})
    assert found.status_code == 200, found.text
    assert found.json() == {
        "term": "x",
        "notes": [{"id": 1, "title": "x"}, {"id": 2, "title": "x"}],
    }
    linked = await _send(oas32_app, "LINK", "/notes/4?to=5")
    assert linked.status_code == 200, linked.text
    assert linked.json() == {"from": 4, "to": 5}
    refused = await _send(oas32_app, "LINK", "/notes/4?to=0")
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/query/to"
    not_allowed = await _send(oas32_app, "UNLINK", "/notes/4")
    assert not_allowed.status_code == 405
    assert not_allowed.headers["allow"] == "GET, LINK"


async def test_query_and_additional_methods_over_a_socket(oas32_app: Any) -> None:
    # Through uvicorn's HTTP parser too, not only in-process: QUERY with its body, and LINK.
    with served(oas32_app) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as client:
            found = await client.request("QUERY", "/search/notes", json={"term": "x", "limit": 1})
            linked = await client.request("LINK", "/notes/4", params={"to": 5})
            refused = await client.request("LINK", "/notes/4", params={"to": 0})
            not_allowed = await client.request("PURGE", "/notes/4")
            not_here = await client.get("/search/notes")
    assert found.status_code == 200, found.text
    assert found.json() == {"term": "x", "notes": [{"id": 1, "title": "x"}]}
    assert (linked.status_code, linked.json()) == (200, {"from": 4, "to": 5})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "/query/to"
    assert not_allowed.status_code == 405
    assert not_allowed.headers["allow"] == "GET, LINK"
    assert not_allowed.headers["content-type"] == "application/problem+json"
    assert not_here.status_code == 405
    assert not_here.headers["allow"] == "QUERY"


@pytest.mark.parametrize(
    ("url", "status", "expected"),
    [
        (
            "/notes?name=ada&tags=a&tags=c&limit=2",
            200,
            {"name": "ada", "tags": ["a", "c"], "limit": 2},
        ),
        ("/notes?tags=b", 200, {"tags": ["b"]}),
        ("/notes", 200, {}),  # an empty query string is an empty object
        ("/notes?limit=0", 422, "/querystring/filter/limit"),
        ("/notes?tags=z", 422, "/querystring/filter/tags/0"),
        ("/notes?other=1", 422, "/querystring/filter/other"),
        (
            "/notes/by-json?%7B%22name%22%3A%22ada%22%2C%22limit%22%3A3%7D",
            200,
            {"name": "ada", "limit": 3},
        ),
        ("/notes/by-json?%7B%22limit%22%3A11%7D", 422, "/querystring/filter/limit"),
        ("/notes/by-json?%7Bnot%20json", 422, "/querystring/filter"),
        ("/notes/by-json", 422, "/querystring/filter"),
    ],
)
async def test_the_query_string_as_one_parameter(
    oas32_app: Any, url: str, status: int, expected: Any
) -> None:
    response = await _send(oas32_app, "GET", url)
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json() == expected
    else:
        assert expected in [e["pointer"] for e in response.json()["errors"]]


# ------------------------------------------------------------------ streams in OpenAPI 3.1


class Streams31Impl:
    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg
        self.r = pkg.responses.default

    def _ticks(self, count: int) -> list[Any]:
        return [self.pkg.models.Tick(n=n, label=f"tick {n}") for n in range(count)]

    async def tick_lines(self, ctx: Any, *, count: int) -> Any:
        ticks = self._ticks(count)
        if count % 2:
            return self.r.TickLines200(body=ticks)  # the whole list as application/json

        async def lines() -> AsyncIterator[Any]:
            for tick in ticks:
                yield tick

        return self.r.TickLines200(body=lines(), media_type="application/jsonl")

    async def tick_events(self, ctx: Any, *, count: int) -> Any:
        event = self.pkg.models.TickEvents200ResponseItem
        items = [event(event="tick", data=tick) for tick in self._ticks(count)]
        return self.r.TickEvents200(body=iter(items))  # any iterator streams


@pytest.fixture(scope="session")
def streams31_app(packages: Path) -> Any:
    pkg = _package(packages, "streams31")
    return pkg.build_app(pkg.Implementation(context=_context, default=Streams31Impl(pkg)))


streams31_schema = _schema("streams31")


@streams31_schema.parametrize()
def test_streams31(case: Any, streams31_app: Any) -> None:
    case.call_and_validate(app=streams31_app)


async def test_x_item_schema_streams_as_item_schema_does(streams31_app: Any) -> None:
    whole = await _send(streams31_app, "GET", "/ticks?count=1")
    assert whole.headers["content-type"] == "application/json"
    assert whole.json() == [{"n": 0, "label": "tick 0"}]
    lines = await _send(streams31_app, "GET", "/ticks?count=2")
    assert lines.headers["content-type"] == "application/jsonl"
    assert lines.content == b'{"n":0,"label":"tick 0"}\n{"n":1,"label":"tick 1"}\n'
    events = await _send(streams31_app, "GET", "/ticks/events?count=1")
    assert events.text == 'event: tick\ndata: {"n":0,"label":"tick 0"}\n\n'


# ------------------------------------------------------------------ webhooks and callbacks


class HooksImpl:
    """The sending side's own operations: a subscription, and an order."""

    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg
        self.r = pkg.responses.default

    async def subscribe(self, ctx: Any, *, body: Any) -> Any:
        subscription = self.pkg.models.Subscription(
            id=1, callback_url=body.callback_url, kinds=body.kinds
        )
        return self.r.Subscribe201(body=subscription)

    async def place_order(self, ctx: Any, *, body: Any) -> Any:
        accepted = self.pkg.models.PlaceOrder202Response(id="ord_0001", lines=len(body.lines))
        return self.r.PlaceOrder202(body=accepted)


@pytest.fixture(scope="session")
def hooks_app(packages: Path) -> Any:
    pkg = _package(packages, "hooks")
    impl = pkg.Implementation(context=_context, default=HooksImpl(pkg))
    return pkg.build_app(impl, validate_responses=True)


hooks_schema = _schema("hooks")


@hooks_schema.parametrize()
def test_hooks(case: Any, hooks_app: Any) -> None:
    case.call_and_validate(app=hooks_app)


class HooksReceiver:
    """A consumer's handlers, answering with each documented status: an unknown pet or order
    (ids over 1000, orders ending 0000) is a 404, the fifth attempt at an event a 409, a pet
    without tags a 202. The calls are recorded, typed as the handlers received them."""

    def __init__(self, pkg: ModuleType) -> None:
        self.pkg = pkg
        self.r = pkg.receiver.responses.default
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def pet_added(self, ctx: Any, *, body: Any) -> Any:
        self.calls.append(("pet_added", {"principal": ctx, "body": body}))
        if "tags" not in body.model_fields_set:
            return self.r.PetAdded202()
        return self.r.PetAdded200(body=body)

    async def pet_changed(self, ctx: Any, *, x_pet_id: int, body: Any) -> Any:
        self.calls.append(("pet_changed", {"x_pet_id": x_pet_id, "body": body}))
        return self.r.PetChanged404() if x_pet_id > 1000 else self.r.PetChanged204()

    async def deliver_event(self, ctx: Any, **kwargs: Any) -> Any:
        self.calls.append(("deliver_event", kwargs))
        if kwargs["attempt"] == 5:
            return self.r.DeliverEvent409()
        ack = self.pkg.models.Ack(
            event_id=kwargs["event_id"], attempt=kwargs["attempt"], kind=kwargs["body"].root.kind
        )
        return self.r.DeliverEvent200(body=ack)

    async def order_shipped(self, ctx: Any, *, body: Any) -> Any:
        self.calls.append(("order_shipped", {"body": body}))
        if body.order_id.endswith("0000"):
            return self.r.OrderShipped404()
        return self.r.OrderShipped204()


# Where the consumer receives each webhook and callback: two on one path, one with a template.
HOOK_PATHS = {
    "pet_added": "/hooks/pets",
    "pet_changed": "/hooks/pets",
    "deliver_event": "/hooks/events/{event_id}",
    "order_shipped": "/hooks/orders",
}


@pytest.fixture(scope="session")
def hooks_receiver(packages: Path) -> HooksReceiver:
    return HooksReceiver(_package(packages, "hooks"))


@pytest.fixture(scope="session")
def hooks_receiver_app(packages: Path, hooks_receiver: HooksReceiver) -> Any:
    pkg = _package(packages, "hooks")
    receivers = pkg.receiver.Receivers(
        context=_context, authenticator=Authenticator(), default=hooks_receiver
    )
    return pkg.receiver.build_receiver(receivers, HOOK_PATHS, validate_responses=True)


# Each one's operation in the document, as the generated receiver's SOURCES gives them (the
# schema is needed at collection, before the package exists; test_hooks_receiver_document
# checks that the generated receiver derives this very document).
HOOK_SOURCES = {
    "pet_added": "/webhooks/petAdded/post",
    "pet_changed": "/webhooks/petChanged/put",
    "deliver_event": "/paths/~1subscriptions/post/callbacks/onEvent/"
    "{$request.body#~1callback_url}~1events~1{event_id}/post",
    "order_shipped": "/paths/~1orders/post/callbacks/onShipped/{$request.body#~1notify_url}/post",
}
HOOKS_RECEIVED = specfirst.as_paths(
    load_bundle(COVERAGE / "hooks.yaml").document, HOOK_SOURCES, HOOK_PATHS
)
# The sender signs petAdded with the key the consumer registered (Authenticator's "k").
HOOKS_RECEIVER_CONFIG = {
    **CONFIG,
    "operations": POSITIVE_ONLY,
    "auth": {"openapi": {"hookKey": {"api_key": "k"}}},
}
hooks_receiver_schema = schemathesis.openapi.from_dict(
    HOOKS_RECEIVED, config=schemathesis.Config.from_dict(HOOKS_RECEIVER_CONFIG)
)


def test_hooks_receiver_document(packages: Path) -> None:
    receiver = _package(packages, "hooks").receiver
    assert receiver.SOURCES == HOOK_SOURCES
    assert receiver.as_paths(HOOK_PATHS) == HOOKS_RECEIVED


@hooks_receiver_schema.parametrize()
def test_hooks_receiver(case: Any, hooks_receiver_app: Any) -> None:
    # ignored_auth sends its probes (petAdded without the key, with a wrong one) through the
    # schema's transport to the operation's app, which a schema loaded from a dict lacks.
    case.operation.schema.app = case.operation.app = hooks_receiver_app
    case.call_and_validate(app=hooks_receiver_app)


def test_hooks_operations_are_all_fuzzed(packages: Path) -> None:
    def loaded(schema: schemathesis.BaseSchema) -> dict[str, str]:
        results = list(schema.get_all_operations())
        operations = [result.ok() for result in results if isinstance(result, Ok)]
        assert len(operations) == len(results)
        return {op.definition.raw["operationId"]: op.label for op in operations}

    pkg = _package(packages, "hooks")
    assert set(loaded(hooks_schema)) == {"subscribe", "place_order"}  # callbacks not served
    received = loaded(hooks_receiver_schema)
    assert received == {
        "pet_added": "POST /hooks/pets",
        "pet_changed": "PUT /hooks/pets",
        "deliver_event": "POST /hooks/events/{event_id}",
        "order_shipped": "POST /hooks/orders",
    }
    assert set(received) == set(pkg.receiver.SOURCES) == set(HOOK_PATHS)


@pytest.fixture(scope="module")
def hooks_consumer(hooks_receiver_app: Any) -> Iterator[str]:
    """The generated receiver on uvicorn, at HOOK_PATHS; yields its base URL."""
    with served(hooks_receiver_app) as base_url:
        yield base_url


async def test_each_sender_reaches_the_generated_receiver_over_http(
    packages: Path, hooks_consumer: str, hooks_receiver: HooksReceiver
) -> None:
    """Each generated sender, through an HTTP client, to the generated receiver on a socket:
    what one side serialises the other reads back into the same typed values."""
    pkg = _package(packages, "hooks")
    models, send = pkg.models, pkg.webhooks
    delivery_id = uuid.UUID("6f1c9e2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b")
    sent_at = datetime(2024, 11, 5, 9, 30, 0, 500000, tzinfo=UTC)
    pet = models.Pet(name="Rex", species="dog", tags=["good"], litters=[[310, 295], [280]])
    moved = models.Change(models.Moved(change="Moved", route=[[51.5, -0.12], [48.85, 2.35]]))
    event = models.Event(models.Deleted(kind="deleted", subject="pet 7", reason="expired"))
    shipped = models.OrderShippedRequest(
        order_id="ord_0001",
        carrier="courier",
        parcels=["AB123456", "CD654321"],
        weight=2.5,
        signed=False,
    )
    before = len(hooks_receiver.calls)
    # The consumer registered "k" as the key petAdded is signed with: the sender's to add.
    async with httpx.AsyncClient(headers={"X-Hook-Key": "k"}) as client:
        sender = HttpSender(client)
        added = await send.send_pet_added(sender, f"{hooks_consumer}/hooks/pets", body=pet)
        changed = await send.send_pet_changed(
            sender, f"{hooks_consumer}/hooks/pets", x_pet_id=7, body=moved
        )
        unknown = await send.send_pet_changed(
            sender, f"{hooks_consumer}/hooks/pets", x_pet_id=1001, body=moved
        )
        delivered = await send.send_deliver_event(
            sender,
            f"{hooks_consumer}/hooks/events/{{event_id}}",
            event_id="ev_7x2k",
            attempt=2,
            x_delivery=delivery_id,
            x_sent_at=sent_at,
            body=event,
        )
        seen = await send.send_deliver_event(
            sender,
            f"{hooks_consumer}/hooks/events/{{event_id}}",
            event_id="ev_7x2k",
            attempt=5,
            x_delivery=delivery_id,
            x_sent_at=None,
            body=event,
        )
        noted = await send.send_order_shipped(
            sender, f"{hooks_consumer}/hooks/orders", body=shipped
        )
    assert (added.status, changed.status, unknown.status) == (200, 204, 404), added.content
    assert json.loads(added.content) == {
        "name": "Rex",
        "species": "dog",
        "tags": ["good"],
        "litters": [[310, 295], [280]],
    }
    assert delivered.status == 200, delivered.content
    assert json.loads(delivered.content) == {"event_id": "ev_7x2k", "attempt": 2, "kind": "deleted"}
    assert (seen.status, noted.status) == (409, 204), noted.content
    calls = dict(hooks_receiver.calls[before:][i] for i in (0, 1, 3, 5))
    assert calls["pet_added"] == {"principal": "keys", "body": pet}
    assert calls["pet_changed"] == {"x_pet_id": 7, "body": moved}
    assert calls["deliver_event"] == {
        "event_id": "ev_7x2k",
        "attempt": 2,
        "x_delivery": delivery_id,
        "x_sent_at": sent_at,
        "body": event,
    }
    assert calls["order_shipped"] == {"body": shipped}


async def test_an_unsigned_webhook_is_refused(hooks_consumer: str, packages: Path) -> None:
    pkg = _package(packages, "hooks")
    async with httpx.AsyncClient() as client:
        delivery = await pkg.webhooks.send_pet_added(
            HttpSender(client),
            f"{hooks_consumer}/hooks/pets",
            body=pkg.models.Pet(name="Rex", species="dog"),
        )
    assert delivery.status == 401


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/hooks/events", "deliver_event is mounted at /hooks/events, which lacks {event_id}"),
        ("/hooks/{shard}/{event_id}", "it has no path parameter shard"),
        ("hooks/{event_id}", "a path starts with /"),
    ],
)
def test_a_hook_mounted_without_its_path_parameters_is_refused(
    packages: Path, hooks_receiver: HooksReceiver, path: str, says: str
) -> None:
    # Mounted without its {event_id}, every delivery would have been a 422.
    receiver = _package(packages, "hooks").receiver
    receivers = receiver.Receivers(context=_context, default=hooks_receiver)
    with pytest.raises(ValueError, match=re.escape(says)):
        receiver.build_receiver(receivers, {"deliver_event": path})
