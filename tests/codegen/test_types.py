from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from codegen.generate import generate
from codegen.types import TypeMapper
from tests.codegen.conftest import generated_package

DOCUMENT = {
    "components": {
        "schemas": {
            "X": {"type": "object", "properties": {"a": {"type": "string"}}},
            "Code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "Codes": {"type": "array", "items": {"$ref": "#/components/schemas/Code"}},
        }
    }
}


@pytest.mark.parametrize(
    ("schema", "plain", "validator"),
    [
        (
            {"oneOf": [{"$ref": "#/components/schemas/X"}, {"type": "null"}]},
            "models.X | None",
            None,
        ),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "int | None", None),
        ({"type": ["string", "null"], "maxLength": 3}, "str | None", None),
        ({"type": "string", "nullable": True}, "str | None", None),
        (
            {"$ref": "#/components/schemas/Code"},
            "str",
            'Annotated[str, Field(pattern="^[A-Z]{3}$")]',
        ),
        (
            {"$ref": "#/components/schemas/Code", "pattern": "^A"},  # both patterns hold
            "str",
            'Annotated[Annotated[str, Field(pattern="^[A-Z]{3}$")], rt.Matches("^A")]',
        ),
        ({"type": "array", "items": {"type": "integer"}, "maxItems": 2}, "list[int]", None),
        (
            {"type": "array", "items": {"type": "integer"}, "maxItems": 2, "uniqueItems": True},
            "list[int]",
            "Annotated[list[int], Field(max_length=2), rt.unique_items]",
        ),
        (
            {"$ref": "#/components/schemas/Codes", "uniqueItems": True},  # a $ref sibling
            "list[str]",
            'Annotated[list[Annotated[str, Field(pattern="^[A-Z]{3}$")]], rt.unique_items]',
        ),
        (
            {"prefixItems": [{"type": "string"}], "minItems": 1, "uniqueItems": True},
            "tuple[str, *tuple[Any, ...]]",
            "Annotated[tuple[str, *tuple[Any, ...]], rt.Positions(minimum=1, unique=True)]",
        ),
        ({"type": "object", "additionalProperties": {"type": "number"}}, "dict[str, float]", None),
        ({"enum": ["a", 1]}, 'Literal["a", 1]', None),
        ({"const": "x"}, 'Literal["x"]', None),
        ({}, "Any", None),
        (
            {
                "prefixItems": [{"type": "string"}, {"type": "integer"}],
                "minItems": 2,
                "items": False,
            },
            "tuple[str, int]",
            "Annotated[tuple[str, int], rt.Positions(minimum=2)]",
        ),
        (
            {"prefixItems": [{"type": "string"}, {"type": "integer"}], "maxItems": 2},
            "tuple[()] | tuple[str] | tuple[str, int]",
            "Annotated[tuple[()] | tuple[str] | tuple[str, int], rt.Positions()]",
        ),
        (
            {"prefixItems": [{"type": "string"}], "minItems": 1, "items": {"type": "number"}},
            "tuple[str, *tuple[float, ...]]",
            "Annotated[tuple[str, *tuple[float, ...]], rt.Positions(minimum=1)]",
        ),
        (
            {"type": "array", "prefixItems": [{"$ref": "#/components/schemas/X"}], "minItems": 1},
            "tuple[models.X, *tuple[Any, ...]]",
            None,
        ),
        (
            {"prefixItems": [{"type": "string"}, False], "minItems": 1},
            "tuple[str]",
            "Annotated[tuple[str], rt.Positions(minimum=1)]",
        ),
    ],
)
def test_mapping(schema: dict[str, Any], plain: str, validator: str | None) -> None:
    mapped = TypeMapper(DOCUMENT, {"X": "X"}, existing={"X"}).map(schema, "Hint")
    assert mapped.plain == plain
    if validator is not None:
        assert mapped.validator == validator


# -- `$ref` siblings through the whole generator (specfirst.document's rule) -------------------

S = "#/components/schemas/"


def _sibling_document(version: str) -> dict[str, Any]:
    ok = {"description": "ok"}
    return {
        "openapi": version,
        "info": {"title": "siblings", "version": "1"},
        "paths": {
            "/items": {
                "post": {
                    "operationId": "create_item",
                    "parameters": [
                        {
                            "name": "code",
                            "in": "query",
                            "schema": {"$ref": S + "Code", "maxLength": 5},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": S + "Labelled"}}},
                    },
                    "responses": {
                        "204": ok,
                        "409": {
                            "$ref": "#/components/responses/Conflict",
                            "description": "This item's code is taken.",
                        },
                    },
                }
            }
        },
        "components": {
            "responses": {"Conflict": {"description": "A conflict."}},
            "schemas": {
                "Code": {"type": "string", "maxLength": 10},
                "Item": {
                    "type": "object",
                    "required": ["code"],
                    "properties": {"code": {"$ref": S + "Code", "maxLength": 5}},
                },
                # Properties beside a `$ref`: Item's and its own, both.
                "Labelled": {
                    "$ref": S + "Item",
                    "required": ["label"],
                    "properties": {"label": {"type": "string"}},
                },
            },
        },
    }


def test_ref_sibling_rules_reach_the_models(tmp_path: Path) -> None:
    pkg = generated_package(_sibling_document("3.1.0"), tmp_path, "siblings31")
    models, responses = pkg.models, pkg.responses.default
    # A Reference Object's description overrides its target's.
    assert responses.CreateItem409.__doc__ == "create_item: 409 This item's code is taken."
    # A schema's siblings apply in addition: at most 5 characters, Code's 10 notwithstanding.
    models.Item(code="abcde")
    with pytest.raises(ValidationError):
        models.Item(code="abcdef")
    # ... and a `properties` sibling adds to the target's: code and label, both required.
    labelled = models.Labelled(code="abc", label="x")
    assert (labelled.code, labelled.label) == ("abc", "x")
    for partial in ({"code": "abc"}, {"label": "x"}, {"code": "abcdef", "label": "x"}):
        with pytest.raises(ValidationError):
            models.Labelled(**partial)


def test_in_3_0_nothing_beside_a_ref_is_read(tmp_path: Path) -> None:
    spec = tmp_path / "siblings30.json"
    spec.write_text(json.dumps(_sibling_document("3.0.3")))
    result = generate(spec)
    pkg = generated_package(_sibling_document("3.0.3"), tmp_path, "siblings30")
    models, responses = pkg.models, pkg.responses.default
    assert responses.CreateItem409.__doc__ == "create_item: 409 A conflict."
    models.Item(code="abcdefghij")  # Code's 10, the sibling's 5 unread
    assert models.Labelled(code="abc").root == models.Item(code="abc")  # Item, no label
    # What would have changed the code is named; descriptions go without a word.
    ignored = [w for w in result.warnings if "beside a $ref is ignored" in w.message]
    assert sorted(w.pointer for w in ignored) == [
        "/components/schemas/Item/properties/code/maxLength",
        "/components/schemas/Labelled/properties",
        "/components/schemas/Labelled/required",
        "/paths/~1items/post/parameters/0/schema/maxLength",
    ]
