from __future__ import annotations

import pytest

from impl.kit.etags import if_match_satisfied, parse_entity_tags, strong_etag

CURRENT = strong_etag("abc-v2")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"a"', ["a"]),
        ('W/"a"', ["a"]),
        ('"a", W/"b" ,"c"', ["a", "b", "c"]),
        ('"a,b"', ["a,b"]),
        ('""', [""]),
        ("", []),
        ("a", None),
        ('"a', None),
        ('"a"b', None),
        ('w/"a"', None),
        ('"a b"', None),
    ],
)
def test_parse_entity_tags(header: str, expected: list[str] | None) -> None:
    assert parse_entity_tags(header) == expected


@pytest.mark.parametrize(
    ("if_match", "expected"),
    [
        ('"abc-v2"', True),
        ('W/"abc-v2"', True),
        ('"x", "abc-v2"', True),
        ("*", True),
        (" * ", True),
        ('"abc-v1"', False),
        ('"x", "y"', False),
        ("abc-v2", False),
        ('"abc-v2', False),
    ],
)
def test_if_match_satisfied(if_match: str, expected: bool) -> None:
    assert if_match_satisfied(if_match, CURRENT) is expected
