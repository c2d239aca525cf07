"""Golden outputs: each spec under data/ generates exactly the committed package next to it.

Set UPDATE_GOLDEN=1 to rewrite the expected packages after an intended generator change.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codegen.generate import generate, stale_files, write

DATA = Path(__file__).parent / "data"
CASES = sorted(p.stem for p in DATA.glob("*.yaml"))


@pytest.mark.parametrize("case", CASES)
def test_generates_expected_package(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(DATA.parents[2])
    result = generate(Path(f"tests/codegen/data/{case}.yaml"))
    expected = DATA / f"{case}_expected"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        write(result.files, expected)
    assert stale_files(result.files, expected) == []
