"""Identifier generation."""

from __future__ import annotations

import uuid

import uuid_utils


def new_id() -> uuid.UUID:
    """Return a new UUIDv7 as a stdlib `uuid.UUID`.

    Version 7 ids are time-ordered, so primary-key inserts append to the index instead of
    scattering across it, and `(created_at, id)` keyset order agrees with insertion order.
    """
    return uuid.UUID(bytes=uuid_utils.uuid7().bytes)
