from __future__ import annotations

import pytest

from impl.kit.text import is_storable


@pytest.mark.parametrize(
    ("value", "expected"),
    [("plain", True), ("", True), ("émoji 🎉", True), ("nul\x00", False), ("lone \ud800", False)],
)
def test_is_storable(value: str, expected: bool) -> None:
    assert is_storable(value) is expected
