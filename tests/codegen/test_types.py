from __future__ import annotations

from typing import Any

import pytest

from codegen.types import TypeMapper

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
