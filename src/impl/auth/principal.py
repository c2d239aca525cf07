from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """Whom a verified access token names, and in which sign-in; not yet checked against
    the accounts table (nor the sign-in against its revocation).

    Our own tokens always name a sign-in. Tokens of an external provider have none: the
    external verifier alone sets `identity_id` (their `external_identities` link), and the
    caller query then checks that link instead (`impl.auth.repository`). A subject with
    neither matches no caller.
    """

    user_id: UUID
    sign_in_id: UUID | None
    identity_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller, as services see it: an active account."""

    user_id: UUID
    email: str
    is_admin: bool = False
