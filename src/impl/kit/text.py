"""Checks for text on its way into the database."""

from __future__ import annotations


def is_storable(value: str) -> bool:
    """True if `value` can be stored in a text column on every supported backend.

    PostgreSQL rejects NUL characters in text, and no backend can encode a lone surrogate
    (which a JSON `\\ud800` escape produces) as UTF-8; either would surface as a 500.
    """
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
