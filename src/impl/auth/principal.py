from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as services see it."""

    user_id: UUID
    email: str
