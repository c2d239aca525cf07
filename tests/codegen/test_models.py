"""Large documents are modelled in two processes; the result must not depend on that."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest

from codegen import models
from codegen.naming import pascal
from tests.codegen.conftest import generated_package


def _document(count: int) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for i in range(count):
        if i % 2 == 0:
            schemas[f"Kind{i}"] = {"type": "string", "enum": ["a", "b"]}
        else:
            schemas[f"Item{i}"] = {
                "type": "object",
                "required": ["kind"],
                "properties": {
                    "kind": {"$ref": f"#/components/schemas/Kind{i - 1}"},
                    "note": {"type": "string", "maxLength": 5},
                },
            }
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {"schemas": schemas},
    }


def test_groups_follow_references() -> None:
    groups = models._groups(_document(6)["components"]["schemas"])
    assert groups == [["Kind0", "Item1"], ["Kind2", "Item3"], ["Kind4", "Item5"]]
    parts = models._partition(groups, 2)
    assert parts == [["Kind0", "Item1", "Kind4", "Item5"], ["Kind2", "Item3"]]


def _import(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Any:
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(name)


def test_split_generation_is_stable_and_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = _document(models.SPLIT_THRESHOLD)
    names = {name: pascal(name) for name in document["components"]["schemas"]}
    first, classes, by_schema = models.generate_models(document)
    second, _, _ = models.generate_models(document)
    assert first == second
    assert classes == set(names.values())
    assert by_schema == names
    module = _import(first, tmp_path, monkeypatch, "split_models")
    item = module.Item1.model_validate({"kind": "a"})
    assert item.kind == module.Kind0.A


def test_helper_classes_named_alike_in_two_groups_are_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = _document(models.SPLIT_THRESHOLD)
    schemas = document["components"]["schemas"]
    for name, values in (("Left", ["l1", "l2"]), ("Right", ["r1", "r2"])):
        schemas[name] = {"type": "object", "properties": {"state": {"enum": values}}}
    source, classes, _ = models.generate_models(document)
    assert {"State", "State2"} <= classes
    module = _import(source, tmp_path, monkeypatch, "renamed_models")
    assert module.Left.model_validate({"state": "l1"}).state.value == "l1"
    assert module.Right.model_validate({"state": "r2"}).state.value == "r2"


def test_results_are_cached_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEGEN_NO_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    document = _document(4)
    first = models.generate_models(document)
    entries = list((tmp_path / "openapi-codegen").glob("*.json"))
    assert len(entries) == 1
    assert models.generate_models(document) == first
    changed = _document(6)
    assert models.generate_models(changed) != first
    assert len(list((tmp_path / "openapi-codegen").glob("*.json"))) == 2


def test_dotted_schema_names_stay_in_one_module() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {
            "schemas": {
                "content.v1.item": {"type": "object", "properties": {"a": {"type": "string"}}},
                "Box": {
                    "type": "object",
                    "properties": {"item": {"$ref": "#/components/schemas/content.v1.item"}},
                },
            }
        },
    }
    source, classes, by_schema = models.generate_models(document)
    assert by_schema == {"content.v1.item": "ContentV1Item", "Box": "Box"}
    assert classes == {"ContentV1Item", "Box"}
    assert "item: ContentV1Item | MISSING" in source


def test_a_schema_named_like_another_ones_response_variant_keeps_its_own_class(
    tmp_path: Path,
) -> None:
    # adyen.com/BalancePlatformService: `TransactionRule` and the wrapper
    # `TransactionRuleResponse` ({transactionRule: TransactionRule}); a response of
    # `TransactionRule` was typed as the wrapper, so the mock answered `{}`.
    from codegen.generate import generate

    rule = {"$ref": "#/components/schemas/Rule"}
    (tmp_path / "api.json").write_text(
        json.dumps(
            {
                "openapi": "3.1.0",
                "info": {"title": "t", "version": "1"},
                "paths": {
                    "/rules/{id}": {
                        "parameters": [
                            {
                                "name": "id",
                                "in": "path",
                                "required": True,
                                "schema": {"type": "string"},
                            }
                        ],
                        "get": {
                            "operationId": "get_rule",
                            "responses": {
                                "200": {
                                    "description": "the rule",
                                    "content": {"application/json": {"schema": rule}},
                                }
                            },
                        },
                        "patch": {
                            "operationId": "list_notes",
                            "responses": {
                                "200": {
                                    "description": "notes",
                                    "content": {
                                        "application/json": {
                                            "schema": {"$ref": "#/components/schemas/NotesResponse"}
                                        }
                                    },
                                }
                            },
                        },
                        "put": {
                            "operationId": "put_rule",
                            "requestBody": {
                                "required": True,
                                "content": {
                                    "application/json": {
                                        "schema": {"$ref": "#/components/schemas/Note"}
                                    }
                                },
                            },
                            "responses": {
                                "200": {
                                    "description": "the rule, wrapped",
                                    "content": {
                                        "application/json": {
                                            "schema": {"$ref": "#/components/schemas/RuleResponse"}
                                        }
                                    },
                                }
                            },
                        },
                    }
                },
                "components": {
                    "schemas": {
                        "Rule": {
                            "type": "object",
                            "required": ["type"],
                            "properties": {"type": {"type": "string"}},
                        },
                        "RuleResponse": {"type": "object", "properties": {"rule": rule}},
                        # A readOnly/writeOnly pair still gets its variants.
                        "Note": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "string", "readOnly": True},
                                "text": {"type": "string"},
                            },
                        },
                        "NoteResponse": {
                            "type": "object",
                            "properties": {"note": {"$ref": "#/components/schemas/Note"}},
                        },
                        # adyen.com: a schema named `…Response` with readOnly fields inside
                        # gets `…ResponseRequest` and `…ResponseResponse`.
                        "NotesResponse": {
                            "type": "object",
                            "required": ["notes"],
                            "properties": {
                                "notes": {
                                    "type": "array",
                                    "items": {"$ref": "#/components/schemas/Note"},
                                }
                            },
                        },
                    }
                },
            }
        )
    )
    files = generate(tmp_path / "api.json").files
    responses = next(
        text
        for name, text in files.items()
        if name.startswith("responses/") and "GetRule200" in text
    )
    assert "class GetRule200:" in responses
    get_rule = responses.split("class GetRule200:")[1].split("@dataclass")[0]
    assert "body: models.Rule\n" in get_rule
    put_rule = responses.split("class PutRule200:")[1].split("@dataclass")[0]
    assert "body: models.RuleResponse\n" in put_rule
    list_notes = responses.split("class ListNotes200:")[1].split("@dataclass")[0]
    assert "body: models.NotesResponseResponse\n" in list_notes
    interfaces = "".join(text for name, text in files.items() if name.startswith("interfaces/"))
    assert "body: models.NoteRequest" in interfaces


def test_a_ulid_is_a_string_not_a_dependency(tmp_path: Path) -> None:
    # frankiefinancial.io: `format: ulid` became python-ulid's ULID, which nothing installs,
    # so the generated package did not import.
    document = _document(0)
    document["components"]["schemas"]["Check"] = {
        "type": "object",
        "properties": {"id": {"type": "string", "format": "ulid"}},
    }
    generated_package(document, tmp_path, "formats_api")
    assert "import ULID" not in (tmp_path / "formats_api/models.py").read_text()
    ulid = "01ARZ3NDEKTSV4RRFFQ69G5FAV"
    assert importlib.import_module("formats_api.models").Check(id=ulid).id == ulid


def _schemas_document(schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {"schemas": schemas},
    }


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# Two shapes datamodel-code-generator (0.89) fails on in document order and models when each
# schema comes after the ones it references: an allOf child named before its parent, whose
# inline object has a readOnly field (twinehealth.com: "$ref file not found: …/coaches"), and
# a oneOf named before its members, one of which reaches a readOnly field through a nested
# inline object (apple.com/sirikit-cloud-media: "A Parser can not resolve classes").
_CHILD_FIRST = {
    "Child": {"allOf": [_ref("Parent")]},
    "Parent": {
        "properties": {"coaches": {"properties": {"links": {"type": "string", "readOnly": True}}}}
    },
}
_UNION_FIRST = {
    "Invocation": {"oneOf": [_ref("ResolveItems"), _ref("ResolveDestination")]},
    "ResolveDestination": {"properties": {"result": {"properties": {"response": {}}}}},
    "ResolveItems": {
        "properties": {"result": {"properties": {"resolution": {"items": _ref("ItemResolution")}}}}
    },
    "ItemResolution": {"properties": {"success": {"properties": {"item": _ref("MediaItem")}}}},
    "MediaItem": {"properties": {"title": {"type": "string", "readOnly": True}}},
}


@pytest.mark.parametrize("schemas", [_CHILD_FIRST, _UNION_FIRST], ids=["allOf", "oneOf"])
def test_schemas_named_before_what_they_reference_are_modelled(
    schemas: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CODEGEN_NO_CACHE", "1")
    document = _schemas_document(schemas)
    reordered = models._references_first(document)
    assert reordered is not None
    assert list(reordered["components"]["schemas"]) != list(schemas)
    source, classes, by_schema = models.generate_models(document)
    assert set(by_schema) == set(schemas)
    namespace: dict[str, Any] = {}
    exec(compile(source, "models.py", "exec"), namespace)  # noqa: S102 - our own output
    # The readOnly field is in the Response variant only, as for any other document.
    variant = "Child" if schemas is _CHILD_FIRST else "MediaItem"
    field = "coaches" if schemas is _CHILD_FIRST else "title"
    assert field in namespace[f"{variant}Response"].model_fields
    assert {f"{variant}Request", f"{variant}Response"} <= classes
    if schemas is _CHILD_FIRST:
        assert "links" in namespace["CoachesResponse"].model_fields
        assert "links" not in namespace["CoachesRequest"].model_fields
    else:
        assert "title" not in namespace["MediaItemRequest"].model_fields


def test_schemas_after_what_they_reference_keep_their_order() -> None:
    document = _schemas_document({"Parent": {"type": "string"}, "Child": _ref("Parent")})
    assert models._references_first(document) is None
    # A cycle is broken where it is entered: the first schema met comes after the others.
    cycle = models._references_first(
        _schemas_document({"A": _ref("B"), "B": {"items": _ref("A")}, "C": {}})
    )
    assert cycle is not None
    assert list(cycle["components"]["schemas"]) == ["B", "A", "C"]
