from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from codegen.generate import generate, write

COVERAGE = Path(__file__).parent / "coverage"


@pytest.fixture(autouse=True)
def _no_model_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test exercises the real model generator; tests/codegen/test_models.py covers the cache.
    monkeypatch.setenv("CODEGEN_NO_CACHE", "1")


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every coverage document generated as package ``cov_<name>``, importable."""
    root = tmp_path_factory.mktemp("coverage")
    for spec in sorted([*COVERAGE.glob("*.yaml"), *COVERAGE.glob("*.json")]):
        write(generate(spec).files, root / f"cov_{spec.stem}")
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        sys.path.remove(str(root))


def generated_package(document: dict[str, Any], folder: Path, name: str) -> ModuleType:
    """``document`` generated into ``folder/name`` and imported as package ``name``."""
    spec = folder / f"{name}.json"
    spec.write_text(json.dumps(document))
    write(generate(spec).files, folder / name)
    sys.path.insert(0, str(folder))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))
