"""prometheus-client's multiprocess directory, prepared before the library is imported:
its metrics write their files there as soon as they are created."""

from __future__ import annotations

from pathlib import Path


def prepare_multiprocess_dir(path: str, *, reset: bool) -> None:
    """Create `path`; with `reset`, empty it of an earlier run's files (their pids would be
    added up forever). Reset once per deployment start, before any worker starts."""
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    if reset:
        for stale in directory.glob("*.db"):
            stale.unlink()
