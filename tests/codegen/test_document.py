"""specfirst.document: pointers, the one ``$ref`` rule, the operation walker, schema types."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from specfirst.document import (
    Document,
    RefError,
    Sibling,
    fragment,
    join,
    lookup,
    lookup_ref,
    merge,
    schema_types,
    split,
)

ROOT = Path(__file__).resolve().parents[2]
S = "#/components/schemas/"


def _doc(version: str = "3.1.0", **parts: Any) -> Document:
    return Document({"openapi": version, "info": {"title": "t", "version": "1"}, **parts})


# ---------------------------------------------------------------------------- pointers


def test_pointers_escape_tilde_and_slash_and_fragments_are_percent_decoded() -> None:
    assert join("/paths", "/a/{id}", "get") == "/paths/~1a~1{id}/get"
    assert join("", "a~b", 0) == "/a~0b/0"
    assert split("/paths/~1a~1{id}/~0x~01") == ["paths", "/a/{id}", "~x~1"]
    assert split("") == []
    with pytest.raises(ValueError, match="not a JSON pointer"):
        split("paths")
    data = {"paths": {"/a%b": {"get": 1}, "~1": [10, 20]}}
    assert lookup(data, join("/paths", "/a%b", "get")) == 1
    assert lookup(data, "/paths/~01/1") == 20
    # A reference is a URI fragment: percent-decoded, then read as a pointer (RFC 6901 s. 6).
    assert fragment("#/paths/~1a%25b/get") == "/paths/~1a%b/get"
    assert lookup_ref(data, "#/paths/~1a%25b/get") == 1
    assert lookup_ref(data, "#/paths/%7E01/0") == 10
    for missing in ("/paths/~1a%25b/get", "/paths/~01/2", "/paths/~01/x", "paths"):
        with pytest.raises(KeyError):
            lookup(data, missing)
    with pytest.raises(KeyError):
        lookup_ref(data, "other.yaml#/paths")
    with pytest.raises(ValueError, match="same document"):
        fragment("other.yaml#/x")


# ---------------------------------------------------------------------------- references


def test_chains_are_followed_to_the_end() -> None:
    doc = _doc(
        components={
            "parameters": {
                "A": {"$ref": "#/components/parameters/B"},
                "B": {"$ref": "#/components/parameters/C"},
                "C": {"name": "c", "in": "query"},
            }
        }
    )
    resolved = doc.follow({"$ref": "#/components/parameters/A"}, "/paths/~1x/parameters/0")
    assert resolved.node == {"name": "c", "in": "query"}
    assert resolved.pointer == "/components/parameters/C"
    assert resolved.origin == "/paths/~1x/parameters/0"
    assert resolved.ignored == ()
    plain = {"name": "p", "in": "path"}
    assert doc.follow(plain, "/x").node is plain
    assert doc.follow(plain, "/x").pointer == "/x"


@pytest.mark.parametrize(
    ("schemas", "start", "message", "pointer"),
    [
        (
            {"A": {"$ref": S + "B"}, "B": {"$ref": S + "A"}},
            S + "A",
            "is circular",
            "/components/schemas/B/$ref",
        ),
        ({"A": {"$ref": S + "A"}}, S + "A", "is circular", "/components/schemas/A/$ref"),
        (
            {"A": {"$ref": S + "Missing"}},
            S + "A",
            "points nowhere",
            "/components/schemas/A/$ref",
        ),
        (
            {"A": {"$ref": "./other.yaml#/A"}},
            S + "A",
            "not in this document",
            "/components/schemas/A/$ref",
        ),
        ({}, "https://example.com/x.json", "not in this document", "/start/$ref"),
    ],
)
def test_cycles_remote_and_missing_targets_are_one_error_with_the_refs_pointer(
    schemas: dict[str, Any], start: str, message: str, pointer: str
) -> None:
    doc = _doc(components={"schemas": schemas})
    for follow in (doc.follow, doc.follow_schema):
        with pytest.raises(RefError, match=message) as raised:
            follow({"$ref": start}, "/start")
        assert raised.value.pointer == pointer
        assert pointer in str(raised.value)
    with pytest.raises(RefError):
        doc.target({"$ref": start})


REFERENCE_SIBLINGS: dict[str, dict[str, Any]] = {
    "parameters": {
        "Limit": {"name": "limit", "in": "query", "description": "How many.", "required": False}
    },
    "responses": {
        "Conflict": {"description": "A conflict.", "content": {}},
        "Alias": {"$ref": "#/components/responses/Conflict", "description": "The alias's."},
    },
}


def test_reference_objects_take_summary_and_description_in_3_1_and_ignore_the_rest() -> None:
    doc = _doc(components=REFERENCE_SIBLINGS)
    raw = {
        "$ref": "#/components/parameters/Limit",
        "description": "Mine.",
        "required": True,
        "x-note": 1,
    }
    resolved = doc.follow(raw, "/p")
    assert resolved.node == {
        "name": "limit",
        "in": "query",
        "description": "Mine.",
        "required": False,
    }
    assert resolved.ignored == (Sibling("/p/required", "required"), Sibling("/p/x-note", "x-note"))
    # The target itself is not changed; the nearest description wins along a chain.
    assert REFERENCE_SIBLINGS["parameters"]["Limit"]["description"] == "How many."
    response = doc.follow({"$ref": "#/components/responses/Alias"}, "/r").node
    assert response["description"] == "The alias's."
    response = doc.follow(
        {"$ref": "#/components/responses/Alias", "description": "Nearest."}, "/r"
    ).node
    assert response["description"] == "Nearest."


def test_in_3_0_every_sibling_of_a_reference_is_ignored() -> None:
    doc = _doc("3.0.3", components=REFERENCE_SIBLINGS)
    resolved = doc.follow({"$ref": "#/components/parameters/Limit", "description": "Mine."}, "/p")
    assert resolved.node["description"] == "How many."
    assert resolved.ignored == (Sibling("/p/description", "description"),)
    schema = _doc("3.0.3", components=SCHEMAS).follow_schema(
        {"$ref": S + "Code", "maxLength": 5}, "/s"
    )
    assert schema.siblings == ()
    assert schema.applied() == SCHEMAS["schemas"]["Code"]
    assert schema.ignored == (Sibling("/s/maxLength", "maxLength"),)


SCHEMAS: dict[str, dict[str, Any]] = {
    "schemas": {
        "Code": {"type": "string", "maxLength": 10, "minLength": 2, "pattern": "^[a-z]+$"},
        "Short": {"$ref": S + "Code", "maxLength": 8, "description": "Short."},
        "Item": {
            "type": "object",
            "required": ["code"],
            "properties": {"code": {"$ref": S + "Code"}, "name": {"type": "string"}},
        },
    }
}


def test_schema_siblings_apply_in_addition_like_all_of() -> None:
    doc = _doc(components=SCHEMAS)
    resolved = doc.follow_schema({"$ref": S + "Short", "maxLength": 12, "minLength": 3}, "/s")
    # The target, and each reference's siblings, outermost first.
    assert resolved.node is SCHEMAS["schemas"]["Code"]
    assert resolved.pointer == "/components/schemas/Code"
    assert [(s.pointer, s.keywords) for s in resolved.siblings] == [
        ("/s", {"maxLength": 12, "minLength": 3}),
        ("/components/schemas/Short", {"maxLength": 8, "description": "Short."}),
    ]
    # Applied, the stricter bound of each holds: a looser sibling widens nothing.
    applied = resolved.applied()
    assert applied["maxLength"] == 8
    assert applied["minLength"] == 3
    assert applied["pattern"] == "^[a-z]+$"
    assert applied["description"] == "Short."
    assert resolved.effective() == (applied, "/s")
    # Without siblings the effective schema is the target, where it is.
    plain = doc.follow_schema({"$ref": S + "Code"}, "/p")
    assert plain.effective() == (SCHEMAS["schemas"]["Code"], "/components/schemas/Code")


def test_a_properties_sibling_adds_to_the_targets_properties() -> None:
    doc = _doc(components=SCHEMAS)
    applied = doc.follow_schema(
        {
            "$ref": S + "Item",
            "required": ["name"],
            "properties": {"code": {"maxLength": 4}, "note": {"type": "string"}},
        }
    ).applied()
    assert applied["required"] == ["code", "name"]
    assert applied["properties"] == {
        "code": {"allOf": [{"$ref": S + "Code"}, {"maxLength": 4}]},
        "name": {"type": "string"},
        "note": {"type": "string"},
    }


def test_merge_joins_what_joins() -> None:
    assert merge({"type": "number", "minimum": 0}, {"type": ["integer", "null"]}) == {
        "type": "integer",
        "minimum": 0,
    }
    assert merge({"type": ["string", "null"]}, {"type": ["null", "string"]})["type"] == [
        "null",
        "string",
    ]
    assert merge({"enum": ["a", "b", "c"]}, {"enum": ["c", "a", "x"]})["enum"] == ["c", "a"]
    assert merge({"uniqueItems": True}, {"uniqueItems": False})["uniqueItems"] is True
    assert merge({"maxItems": 3, "pattern": "a"}, {"maxItems": 5, "pattern": "b"}) == {
        "maxItems": 3,
        "pattern": "b",  # two patterns do not join: the outer one's is kept
    }
    # 3.0's boolean exclusive bounds are not numbers: the outer one's.
    assert merge({"exclusiveMinimum": True}, {"exclusiveMinimum": False}) == {
        "exclusiveMinimum": False
    }
    assert merge(True, {"type": "string"}) == {"type": "string"}
    assert merge({"type": "string"}, None) == {"type": "string"}


def test_schema_types() -> None:
    assert schema_types({"type": "string"}) == frozenset({"string"})
    assert schema_types({"type": ["string", "null"]}) == frozenset({"string", "null"})
    assert schema_types({"type": "integer", "nullable": True}) == frozenset({"integer", "null"})
    assert schema_types({"properties": {}}) is None
    assert schema_types(True) is None


# ---------------------------------------------------------------------------- operations

OP = {"responses": {"200": {"description": "ok"}}}


def test_the_walker_follows_path_item_refs_with_the_generators_pointers() -> None:
    doc = _doc(
        "3.0.3",
        paths={
            "/a/{id}": {"parameters": [{"$ref": "#/components/parameters/Id"}], "get": OP},
            "/b": {"$ref": "#/components/x-items/B"},
            "/c": {"summary": "no operations", "x-get": OP},
        },
        components={"x-items": {"B": {"put": OP, "delete": OP, "parameters": []}}},
    )
    found = doc.operations()
    assert [(o.path, o.method, o.pointer, o.resolved_pointer) for o in found] == [
        ("/a/{id}", "get", "/paths/~1a~1{id}/get", "/paths/~1a~1{id}/get"),
        ("/b", "put", "/paths/~1b/put", "/components/x-items/B/put"),
        ("/b", "delete", "/paths/~1b/delete", "/components/x-items/B/delete"),
    ]
    assert found[0].parameters == [{"$ref": "#/components/parameters/Id"}]
    assert found[1].path_pointer == "/paths/~1b"
    assert found[1].item_pointer == "/components/x-items/B"
    assert {o.kind for o in found} == {"path"}


def test_the_walker_reads_3_1_webhooks_and_callbacks_on_request() -> None:
    doc = _doc(
        paths={
            "/subscribe": {
                "post": {
                    **OP,
                    "callbacks": {
                        "onEvent": {"{$request.body#/url}": {"post": OP}},
                        "shared": {"$ref": "#/components/callbacks/Shared"},
                    },
                }
            }
        },
        webhooks={"newThing": {"post": OP}},
        components={"callbacks": {"Shared": {"{$request.body#/other}": {"put": OP}}}},
    )
    assert [o.method for o in doc.operations()] == ["post"]
    found = doc.operations(outbound=True)
    assert [(o.kind, o.name, o.path, o.method, o.pointer) for o in found] == [
        ("path", "/subscribe", "/subscribe", "post", "/paths/~1subscribe/post"),
        ("webhook", "newThing", "newThing", "post", "/webhooks/newThing/post"),
        (
            "callback",
            "onEvent",
            "{$request.body#/url}",
            "post",
            "/paths/~1subscribe/post/callbacks/onEvent/{$request.body#~1url}/post",
        ),
        (
            "callback",
            "shared",
            "{$request.body#/other}",
            "put",
            "/paths/~1subscribe/post/callbacks/shared/{$request.body#~1other}/put",
        ),
    ]


def test_the_walker_reads_3_2_query_and_additional_operations() -> None:
    doc = _doc(
        "3.2.0",
        paths={
            "/notes": {
                "parameters": [{"name": "q", "in": "query"}],
                "query": OP,
                "get": OP,
                "additionalOperations": {"LINK": OP, "PURGE": OP, "bad": "not an operation"},
            }
        },
    )
    found = doc.operations()
    assert [(o.method, o.additional, o.pointer) for o in found] == [
        ("get", False, "/paths/~1notes/get"),
        ("query", False, "/paths/~1notes/query"),
        ("LINK", True, "/paths/~1notes/additionalOperations/LINK"),
        ("PURGE", True, "/paths/~1notes/additionalOperations/PURGE"),
    ]
    assert all(o.parameters == [{"name": "q", "in": "query"}] for o in found)


def test_a_broken_path_item_ref_raises_or_is_left_out() -> None:
    doc = _doc(paths={"/a": {"$ref": "#/nowhere"}, "/b": {"get": OP}})
    with pytest.raises(RefError) as raised:
        doc.operations()
    assert raised.value.pointer == "/paths/~1a/$ref"
    assert [o.path for o in doc.operations(strict=False)] == ["/b"]


# ---------------------------------------------------------------------------- one rule

# The tools that read documents, and where they do it. None follows a `$ref` by itself: each
# goes through specfirst.document.
READERS = [
    *sorted((ROOT / "codegen/generator/src/codegen").glob("*.py")),
    *sorted((ROOT / "codegen/runtime/src/specfirst").glob("*.py")),
    *sorted((ROOT / "spectools").glob("*.py")),
    *sorted((ROOT / "benchmarks").glob("*.py")),
    *sorted((ROOT / "src/impl").rglob("*.py")),
]
# What following a `$ref`, or walking operations, by hand looks like: the old helpers, a
# reference made a pointer by slicing off its `#` (no percent-decoding), a pointer token
# unescaped by hand, a list of the methods of a path item.
FOLLOWING = re.compile(
    r"dereference\(|_resolve_pointer|(ref|target)\[1 ?:\]|removeprefix\(\"#"
    r'|"~1", "/"|"get", "put"|\bin METHODS\b'
)
# Files that may, and why.
ALLOWED = {
    "codegen/runtime/src/specfirst/document.py": "it is the one implementation",
}


def test_no_other_module_follows_refs_on_its_own() -> None:
    offenders = []
    for path in READERS:
        name = path.relative_to(ROOT).as_posix()
        if name in ALLOWED:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if FOLLOWING.search(line):
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []


@pytest.mark.parametrize(
    "line",
    [
        "node = dereference(document, ref)",
        'pointer = ref[1:].split("/")',
        'token = raw.replace("~1", "/").replace("~0", "~")',
        'METHODS = ("get", "put", "post", "delete")',
        "for method in METHODS:",
        'path = target.removeprefix("#")',
    ],
)
def test_the_check_sees_a_reference_followed_by_hand(line: str) -> None:
    assert FOLLOWING.search(line)
