"""The mock server: ``build_app(None, mock=True)`` answers every operation of any spec with its
documented example (or a generated, conforming value), after the usual request validation.

Schemathesis drives the mock of the project's spec and of every coverage document in-process,
every check on, positive and negative: valid requests must get the documented success, its
body, headers and media type conforming; invalid ones the documented 4xx problem.
"""

from __future__ import annotations

import importlib
import json
import logging
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis

import generated
import specfirst.mock
from codegen.generate import generate, load_bundle, write
from tests.codegen.conftest import COVERAGE, generated_package

ROOT = Path(__file__).parents[2]
OWN_SPEC = ROOT / "openapi/openapi.yaml"
DOCUMENTS = {
    **{p.stem: p for p in sorted([*COVERAGE.glob("*.yaml"), *COVERAGE.glob("*.json")])},
    "storefront": OWN_SPEC,
}
# As in test_coverage.py: form and multipart fields carry no JSON types, so a negative case
# (0 as "0", null as "") can serialise to a valid body; those are fuzzed with valid data only.
POSITIVE_ONLY = ["create_note_from_form", "upload", "submit_picks"]
# schemathesis 4.32 reads `prefixItems` response schemas as draft 4 and cannot validate them
# (see test_coverage.py); test_tuple_answers_match_their_schemas checks those bodies instead.
TUPLES = ["echo_point", "echo_row", "echo_shape"]


def _schema(path: Path) -> schemathesis.BaseSchema:
    # Fewer examples than test_coverage.py, which fuzzes the same request validation; each
    # mocked operation's answer is fixed at start-up. About 20 s for all twelve documents.
    config = {
        "generation": {"mode": "all", "max-examples": 10, "deterministic": True},
        "checks": {
            "enabled": True,
            # Sends made-up credentials and expects a 401. A mock has no accounts to check
            # credentials against, so it accepts any it is given (and refuses none given:
            # test_requests_are_still_validated).
            "ignored_auth": {"enabled": False},
        },
        "operations": [
            *(
                {"include-operation-id": op, "generation": {"mode": "positive"}}
                for op in POSITIVE_ONLY
            ),
            *(
                {
                    "include-operation-id": op,
                    "checks": {"response_schema_conformance": {"enabled": False}},
                }
                for op in TUPLES
            ),
            # As in test_coverage.py: schemathesis 4.32 does not read additionalOperations.
            {
                "include-operation-id": "read_note",
                "checks": {"allow_header_conformance": {"enabled": False}},
            },
        ],
    }
    return schemathesis.openapi.from_dict(
        load_bundle(path).document, config=schemathesis.Config.from_dict(config)
    )


def _package(name: str) -> ModuleType:
    return generated if name == "storefront" else importlib.import_module(f"cov_{name}")


@pytest.fixture(scope="session")
def mocks(packages: Path) -> dict[str, Any]:
    return {
        name: _package(name).build_app(None, mock=True, validate_responses=True)
        for name in DOCUMENTS
    }


def _fuzz(name: str) -> Callable[..., None]:
    @_schema(DOCUMENTS[name]).parametrize()
    def test(case: Any, mocks: dict[str, Any]) -> None:
        case.call_and_validate(app=mocks[name])

    test.__name__ = f"test_mock_{name}"
    fuzzed: Callable[..., None] = test
    return fuzzed


# One schemathesis test per document: test_mock_params, …, test_mock_storefront.
for _name in DOCUMENTS:
    globals()[f"test_mock_{_name}"] = _fuzz(_name)


def test_every_operation_has_an_answer(packages: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="specfirst.mock"):
        for name in DOCUMENTS:
            _package(name).build_app(None, mock=True)
    assert [r.getMessage() for r in caplog.records] == []


async def _get(app: Any, path: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mock") as client:
        return await client.request(kwargs.pop("method", "GET"), path, **kwargs)


def _example(path: str, method: str, status: str) -> Any:
    operation = load_bundle(OWN_SPEC).document["paths"][path][method]
    examples = operation["responses"][status]["content"]["application/json"]["examples"]
    return next(iter(examples.values()))["value"]


TEAM = "0192f4a1-7c3e-7b21-9d4f-2a6c8e1b3f50"
PRODUCT = "0192f4a3-5d6e-7f80-a1b2-c3d4e5f60718"


async def test_answers_with_the_documented_example_and_required_headers(
    mocks: dict[str, Any],
) -> None:
    path = "/v1/teams/{team_id}/products/{product_id}"
    response = await _get(
        mocks["storefront"],
        f"/v1/teams/{TEAM}/products/{PRODUCT}",
        headers={"Authorization": "Bearer anything"},
    )
    assert response.status_code == 200
    assert response.json() == _example(path, "get", "200")
    assert response.headers["etag"]  # required by the spec: filled from its example or schema


async def test_created_is_preferred_and_headers_filled(mocks: dict[str, Any]) -> None:
    body = {"sku": "TENT-1", "name": "Tent", "price": "129.00", "currency": "EUR"}
    response = await _get(
        mocks["storefront"],
        f"/v1/teams/{TEAM}/products",
        method="POST",
        json=body,
        headers={"Authorization": "Bearer anything"},
    )
    assert response.status_code == 201
    assert response.json() == _example("/v1/teams/{team_id}/products", "post", "201")
    assert response.headers["location"]


async def test_requests_are_still_validated(mocks: dict[str, Any]) -> None:
    anonymous = await _get(mocks["storefront"], f"/v1/teams/{TEAM}/products")
    invalid = await _get(
        mocks["storefront"],
        f"/v1/teams/{TEAM}/products?limit=1000",
        headers={"Authorization": "Bearer anything"},
    )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert invalid.status_code == 422
    assert invalid.headers["content-type"] == "application/problem+json"
    assert [e["pointer"] for e in invalid.json()["errors"]] == ["/query/limit"]


async def test_tuple_answers_match_their_schemas(mocks: dict[str, Any]) -> None:
    document = load_bundle(DOCUMENTS["tuples"]).document
    sampler = specfirst.mock.Sampler(document)
    for path, item in document["paths"].items():
        request = item["post"]["requestBody"]["content"]["application/json"]["schema"]
        answer = item["post"]["responses"]["200"]["content"]["application/json"]["schema"]
        response = await _get(mocks["tuples"], path, method="POST", json=sampler.value(request))
        assert response.status_code == 200, response.text
        schema = {**answer, "components": document["components"]}
        assert jsonschema_rs.validator_for(schema).is_valid(response.json()), response.text


async def test_an_implementation_takes_precedence(packages: Path) -> None:
    pkg = _package("security")

    class Partial:
        async def whoami(self, ctx: Any) -> Any:
            return pkg.responses.default.Whoami200(body=pkg.models.Me(principal="real"))

    impl = pkg.Implementation(context=_no_context, default=Partial())
    app = pkg.build_app(impl, mock=True)
    real = await _get(app, "/whoami")
    mocked = await _get(app, "/secret", headers={"Authorization": "Bearer x"})
    assert real.json() == {"principal": "real"}
    assert mocked.status_code == 200
    assert mocked.json() == {"principal": "string"}


@asynccontextmanager
async def _no_context(info: Any) -> AsyncIterator[None]:
    yield None


# ------------------------------------------------------------------ the value generator

SCHEMAS: list[dict[str, Any]] = [
    {"type": "string", "format": "uuid"},
    {"type": "string", "format": "date"},
    {"type": "string", "format": "date-time"},
    {"type": "string", "format": "email"},
    {"type": "string", "minLength": 12, "maxLength": 14},
    {"type": "string", "pattern": r"^[A-Z]{3}-[0-9]{2,4}$"},
    {"type": "string", "pattern": r"^(0|[1-9][0-9]*)\.[0-9]{2}$", "examples": ["oops"]},
    {"type": "string", "pattern": r"^[a-z]+$", "minLength": 6},
    {"type": "integer", "minimum": 7, "maximum": 9},
    {"type": "integer", "exclusiveMinimum": 10, "multipleOf": 5},
    {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
    {"type": "number", "maximum": -3.5},
    {"type": "array", "items": {"type": "integer"}, "minItems": 3, "uniqueItems": True},
    {
        "type": "array",
        "items": {"type": "integer", "minimum": 7, "maximum": 20, "multipleOf": 2},
        "minItems": 3,
        "uniqueItems": True,
    },
    {"type": "array", "items": {"enum": ["a", "b", "c"]}, "minItems": 2, "uniqueItems": True},
    # Distinct as JSON: strings written from a pattern, nested arrays, objects, anything.
    {"type": "array", "items": {"pattern": "^[a-z]{1,8}$"}, "minItems": 4, "uniqueItems": True},
    {
        "type": "array",
        "items": {"type": "array", "items": {"type": "integer"}, "minItems": 1},
        "minItems": 3,
        "uniqueItems": True,
    },
    {"type": "array", "items": {"$ref": "#/$defs/Named"}, "minItems": 3, "uniqueItems": True},
    {"type": "array", "items": {"type": "boolean"}, "minItems": 2, "uniqueItems": True},
    {"type": "array", "items": {}, "minItems": 3, "uniqueItems": True},
    {"type": "array", "prefixItems": [{"type": "string"}, {"type": "boolean"}], "minItems": 2},
    {"type": ["string", "null"], "enum": [None, "x"]},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}},
    {"type": "object", "minProperties": 2, "additionalProperties": {"type": "boolean"}},
    {"$ref": "#/$defs/Tree"},
    {"allOf": [{"$ref": "#/$defs/Named"}, {"required": ["n"], "properties": {"n": {"const": 3}}}]},
    {"oneOf": [{"type": "null"}, {"$ref": "#/$defs/Named"}]},
    {
        "oneOf": [{"$ref": "#/$defs/Cat"}, {"$ref": "#/$defs/Dog"}],
        "discriminator": {"propertyName": "kind", "mapping": {"cat": "#/$defs/Cat"}},
    },
]
DEFS = {
    "Tree": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "kids": {"items": {"$ref": "#/$defs/Tree"}}},
    },
    "Named": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
    "Cat": {"type": "object", "required": ["kind"], "properties": {"kind": {"type": "string"}}},
    "Dog": {"type": "object", "required": ["kind", "barks"], "properties": {"kind": {}}},
}


@pytest.mark.parametrize("schema", SCHEMAS, ids=lambda s: json.dumps(s)[:60])
def test_generated_values_conform(schema: dict[str, Any]) -> None:
    sampler = specfirst.mock.Sampler({"$defs": DEFS}, examples=False)
    value = sampler.value(schema)
    document = {**schema, "$defs": DEFS}
    assert jsonschema_rs.validator_for(document, validate_formats=True).is_valid(value), value
    assert sampler.value(schema) == value  # deterministic


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "integer", "minimum": 5, "exclusiveMinimum": True}, 6),  # 3.0 form
        ({"type": "number", "maximum": 5, "exclusiveMaximum": True, "minimum": 4}, 4),
        ({"type": "integer", "minimum": 0, "exclusiveMinimum": 3}, 4),  # the tighter one
    ],
)
def test_exclusive_bounds_of_both_versions(schema: dict[str, Any], value: float) -> None:
    assert specfirst.mock.Sampler({}).value(schema) == value


def test_unique_items_that_cannot_be_distinct_are_refused() -> None:
    sampler = specfirst.mock.Sampler({})
    with pytest.raises(specfirst.mock.MockError, match="distinct"):
        sampler.value(
            {"type": "array", "items": {"type": "boolean"}, "minItems": 3, "uniqueItems": True}
        )
    # One example repeated would give equal items: each item is built from the schema instead.
    schema = {"type": "array", "items": {"example": "x"}, "minItems": 2, "uniqueItems": True}
    with pytest.raises(specfirst.mock.MockError, match="distinct"):
        sampler.value(schema)
    assert len(set(specfirst.mock.Sampler({}, examples=False).value(schema))) == 2


def test_discriminator_names_the_chosen_branch() -> None:
    sampler = specfirst.mock.Sampler({"$defs": DEFS})
    assert sampler.value(SCHEMAS[-1]) == {"kind": "cat"}


# `$ref` siblings apply in addition to the target (3.1): the value satisfies both.
SIBLING_DEFS = {
    "Code": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 10},
    "Dated": {
        "type": "object",
        "required": ["on"],
        "properties": {"on": {"type": "string", "format": "date"}},
    },
}
SIBLINGS = [
    {"$ref": "#/$defs/Code", "maxLength": 4, "minLength": 3},
    {"$ref": "#/$defs/Code", "maxLength": 20},  # looser: Code's 10 still holds
    # A property in both is both schemas (a date of at most 12 characters), not the sibling's.
    {
        "$ref": "#/$defs/Dated",
        "required": ["n"],
        "properties": {"on": {"maxLength": 12}, "n": {"type": "integer", "minimum": 3}},
    },
]


@pytest.mark.parametrize("schema", SIBLINGS, ids=lambda s: json.dumps(s)[:60])
def test_ref_siblings_hold_with_their_target(schema: dict[str, Any]) -> None:
    value = specfirst.mock.Sampler({"$defs": SIBLING_DEFS}, examples=False).value(schema)
    document = {**schema, "$defs": SIBLING_DEFS}
    validator = jsonschema_rs.Draft202012Validator(document, validate_formats=True)
    assert validator.is_valid(value), value


def test_in_3_0_ref_siblings_are_ignored() -> None:
    short = {"type": "string", "minLength": 6}
    document = {"openapi": "3.0.3", "components": {"schemas": {"Short": short}}}
    value = specfirst.mock.Sampler(document, examples=False).value(
        {"$ref": "#/components/schemas/Short", "maxLength": 3}
    )
    assert isinstance(value, str)
    assert len(value) >= 6  # draft 4: `$ref` stands for its target, the sibling says nothing


# ------------------------------------------------------------------ python -m codegen mock


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_cli_serves_the_mock_over_http(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "mock.log"
    spec = str(COVERAGE / "responses.yaml")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "codegen", "mock", "--spec", spec, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        try:
            response = _wait_for(f"http://127.0.0.1:{port}/things/2", process)
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert response.status_code == 200
    assert response.headers["x-rate"] == "0"
    assert set(response.json()) == {"n", "created"}
    assert f"on http://127.0.0.1:{port}" in log.read_text()


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the mock server exited with status {process.returncode}")
        try:
            return httpx.get(url)
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail("the mock server did not start within 60 s")


def _error_schema() -> Any:
    document = load_bundle(DOCUMENTS["errors"]).document
    schema = {"$ref": "#/components/schemas/Error", "components": document["components"]}
    return jsonschema_rs.validator_for(schema)


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "status"),
    [
        ("POST", "/notes", {"json": {"title": ""}}, 422),  # the documented 422
        ("GET", "/notes/1", {}, 401),  # the documented 401
        ("GET", "/notes/0", {"headers": {"Authorization": "Bearer x"}}, 422),  # by default
        ("POST", "/notes", {"content": b"x", "headers": {"content-type": "text/plain"}}, 415),
    ],
)
async def test_errors_answered_in_the_documented_shape(
    mocks: dict[str, Any], method: str, url: str, kwargs: dict[str, Any], status: int
) -> None:
    response = await _get(mocks["errors"], url, method=method, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert _error_schema().is_valid(response.json()), response.text
    if status == 415:  # `default` has an example: it is the answer, with the problem's status
        assert response.json() == {"code": 500, "message": "Something failed"}
    if status == 401:
        assert response.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_range_answers_carry_their_required_headers(mocks: dict[str, Any]) -> None:
    response = await _get(
        mocks["errors"],
        "/notes/0",
        method="PUT",
        json={"title": "a"},
        headers={"Authorization": "Bearer x"},
    )
    assert response.status_code == 422
    assert response.headers["x-error-code"] == "400"  # generated from the header's schema
    assert _error_schema().is_valid(response.json())


async def test_documented_problem_json_and_undocumented_statuses_stay_problems(
    mocks: dict[str, Any],
) -> None:
    documented = await _get(mocks["errors"], "/labels?limit=0")
    missing = await _get(mocks["errors"], "/nowhere")
    assert documented.status_code == 422
    assert documented.headers["content-type"] == "application/problem+json"
    assert missing.headers["content-type"] == "application/problem+json"


async def test_one_of_answers_are_valid_against_exactly_one_branch(mocks: dict[str, Any]) -> None:
    document = load_bundle(DOCUMENTS["errors"]).document
    one_of = document["paths"]["/labels"]["get"]["responses"]["200"]["content"]
    schema = {**one_of["application/json"]["schema"], "components": document["components"]}
    response = await _get(mocks["errors"], "/labels")
    assert response.status_code == 200
    # `[]` is valid under both branches, so it is not one of them: a non-empty array is.
    assert response.json() == [{"title": "string"}]
    assert jsonschema_rs.validator_for(schema).is_valid(response.json())


def test_one_of_with_no_exclusive_value_is_named(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = tmp_path / "ambiguous.yaml"
    spec.write_text(
        json.dumps(
            {
                "openapi": "3.1.0",
                "info": {"title": "Ambiguous", "version": "1"},
                "paths": {
                    "/x": {
                        "get": {
                            "operationId": "get_x",
                            "responses": {
                                "200": {
                                    "description": "Both branches take any array of strings",
                                    "content": {
                                        "application/json": {
                                            "schema": {
                                                "oneOf": [
                                                    {"type": "array"},
                                                    {"type": "array", "items": {"type": "string"}},
                                                ]
                                            }
                                        }
                                    },
                                }
                            },
                        }
                    }
                },
            }
        )
    )
    write(generate(spec).files, tmp_path / "ambiguous_pkg")
    sys.path.insert(0, str(tmp_path))
    try:
        with caplog.at_level(logging.WARNING, logger="specfirst.mock"):
            importlib.import_module("ambiguous_pkg").build_app(None, mock=True)
    finally:
        sys.path.remove(str(tmp_path))
    assert [r.getMessage() for r in caplog.records] == [
        "mock: get_x 200 body: no value found that only one branch of oneOf [array, array] "
        "accepts; answering one that several do"
    ]


async def test_a_request_that_does_not_fit_gets_the_documented_400(tmp_path: Path) -> None:
    # adyen.com/CheckoutService and many others document 400, not 422, for invalid requests.
    error = {
        "type": "object",
        "required": ["errorCode"],
        "properties": {"errorCode": {"type": "string"}},
    }
    document = {
        "openapi": "3.0.3",
        "info": {"title": "four hundred", "version": "1"},
        "paths": {
            "/cards": {
                "post": {
                    "operationId": "check_card",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["number"],
                                    "properties": {"number": {"type": "string", "minLength": 4}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "fine",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "400": {
                            "description": "the request is invalid",
                            "content": {
                                "application/json": {
                                    "schema": error,
                                    "example": {"errorCode": "702"},
                                }
                            },
                        },
                    },
                }
            }
        },
    }
    package = generated_package(document, tmp_path, "four_hundred_api")
    app = package.build_app(None, mock=True, validate_responses=True)
    refused = await _get(app, "/cards", method="POST", json={"number": "1"})
    assert refused.status_code == 400, refused.text
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {"errorCode": "702"}
    fine = await _get(app, "/cards", method="POST", json={"number": "4111"})
    assert fine.status_code == 200


async def test_references_are_percent_decoded_fragments(tmp_path: Path) -> None:
    # spacetraders.io: `#/paths/~1my~1ships~1%7BshipSymbol%7D~1refine/...` (RFC 6901 §6).
    cooldown = {
        "type": "object",
        "required": ["seconds"],
        "properties": {"seconds": {"type": "integer"}},
    }
    answer = {"type": "object", "required": ["cooldown"], "properties": {"cooldown": cooldown}}
    pointer = (
        "#/paths/~1ships~1%7Bsymbol%7D~1refine/post/responses/200/content/application~1json/schema"
    )
    ok = "200"
    document = {
        "openapi": "3.0.3",
        "info": {"title": "fragments", "version": "1"},
        "paths": {
            "/ships/{symbol}/refine": {
                "post": {
                    "operationId": "refine",
                    "parameters": [
                        {
                            "name": "symbol",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        ok: {
                            "description": "done",
                            "content": {"application/json": {"schema": answer}},
                        }
                    },
                }
            },
            "/ships/{symbol}/cooldown": {
                "get": {
                    "operationId": "get_cooldown",
                    "parameters": [
                        {
                            "name": "symbol",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        ok: {
                            "description": "the cooldown",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": pointer + "/properties/cooldown"}
                                }
                            },
                        }
                    },
                }
            },
        },
    }
    package = generated_package(document, tmp_path, "fragments_api")
    app = package.build_app(None, mock=True, validate_responses=True)
    response = await _get(app, "/ships/x/cooldown")
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["seconds"], int)


async def test_an_operation_documenting_no_response_answers_501(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Valid in 3.1 (ReadMe's parameters-style and others): nothing documented, nothing to
    # answer with. A 200 or 204 would claim a success the document does not promise.
    document = {
        "openapi": "3.1.0",
        "info": {"title": "no responses", "version": "1"},
        "paths": {
            "/pings": {
                "post": {"operationId": "ping"},
                "get": {"operationId": "list_pings", "responses": {"204": {"description": "ok"}}},
            }
        },
    }
    package = generated_package(document, tmp_path, "no_responses_api")
    with caplog.at_level(logging.WARNING, logger="specfirst"):
        app = package.build_app(None, mock=True)
    assert "mock: ping documents no response" in caplog.text
    unanswered = await _get(app, "/pings", method="POST")
    assert unanswered.status_code == 501
    assert unanswered.headers["content-type"] == "application/problem+json"
    assert unanswered.json()["detail"] == "The mock has no answer: ping documents no response"
    assert (await _get(app, "/pings")).status_code == 204
    # With responses validated, any answer to it is undocumented: a server error, logged.
    strict = package.build_app(None, mock=True, validate_responses=True)
    assert (await _get(strict, "/pings", method="POST")).status_code == 500
