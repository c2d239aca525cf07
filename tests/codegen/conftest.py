from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

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
