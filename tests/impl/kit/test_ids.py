from __future__ import annotations

import uuid

from impl.kit.clock import utcnow
from impl.kit.ids import new_id


def test_new_id_is_a_time_ordered_stdlib_uuid() -> None:
    ids = [new_id() for _ in range(100)]
    assert all(type(value) is uuid.UUID and value.version == 7 for value in ids)
    assert len(set(ids)) == 100
    assert ids == sorted(ids)


def test_utcnow_is_aware_utc() -> None:
    now = utcnow()
    assert now.utcoffset() is not None
    assert now.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
