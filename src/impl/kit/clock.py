"""The one place that reads the wall clock, so tests and models agree on time zones."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime, microseconds included."""
    return datetime.now(UTC)
