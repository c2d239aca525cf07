"""Checks for text on its way into the database."""

from __future__ import annotations

from impl.kit.errors import UnprocessableContent


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


def checked_note(field: str, value: str | None, max_length: int) -> str | None:
    """An optional free-text field, refused (422) if it cannot be stored or is too long."""
    if value is not None and (not is_storable(value) or len(value) > max_length):
        raise UnprocessableContent(f"{field} must be at most {max_length} storable characters")
    return value
