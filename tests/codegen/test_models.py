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


def test_split_generation_is_stable_and_complete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = _document(models.SPLIT_THRESHOLD)
    names = {name: pascal(name) for name in document["components"]["schemas"]}
    first, classes = models.generate_models(document, names)
    second, _ = models.generate_models(document, names)
    assert first == second
    assert classes == set(names.values())
    (tmp_path / "split_models.py").write_text(first)
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("split_models")
    item = module.Item1.model_validate({"kind": "a"})
    assert item.kind == module.Kind0.A
