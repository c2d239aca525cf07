from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_model_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each test exercises the real model generator; tests/codegen/test_models.py covers the cache.
    monkeypatch.setenv("CODEGEN_NO_CACHE", "1")
