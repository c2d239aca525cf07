"""Absent vs null: generated request models mark a field the client did not send as MISSING."""

from __future__ import annotations

from typing import TypeVar

from pydantic import MISSING

T = TypeVar("T")


def or_none(value: T | MISSING) -> T | None:
    """The value, or None when the client left the field out."""
    return None if value is MISSING else value
