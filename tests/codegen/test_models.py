"""Large documents are modelled in two processes; the result must not depend on that."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from codegen import models
from codegen.naming import pascal


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
