from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """Whom a verified access token names; not yet checked against the accounts table."""

    user_id: UUID


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as services see it: an active account."""

    user_id: UUID
    email: str
    is_admin: bool = False
