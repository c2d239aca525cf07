"""Turns the bearer token of a request into a TokenSubject, for the generated routes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence

import jwt

from impl.auth.external import ExternalTokens
from impl.auth.principal import TokenSubject
from impl.auth.tokens import TokenService
from specfirst import Credentials

# Verified tokens remembered per process; a client sends the same token for many requests.
VERIFIED_CACHE_SIZE = 4096


class BearerAuthenticator:
    """Verifies the JWT only; no database work.

    Whether the account is still active, and its sign-in not revoked, is checked by the
    request's context, in the request's own transaction: one session per request, not two.
    A token's signature and claims are verified once; later requests with the same token only
    re-check its expiry (revocation is the context's check, so this cache cannot outlive it).

    With `external` (an OpenID Connect provider), a token whose unverified `iss` is the
    provider's is verified as the provider's, and only so; any other as ours. Its first
    verification may read (or make) its account's link: once per token, not per request.
    """

    def __init__(self, tokens: TokenService, external: ExternalTokens | None = None) -> None:
        self._tokens = tokens
        self._external = external
        self._verified: OrderedDict[str, tuple[TokenSubject, float]] = OrderedDict()

    async def authenticate(self, credentials: Credentials, scopes: Sequence[str]) -> TokenSubject:
        token = credentials.value
        cached = self._verified.get(token)
        if cached is not None and time.time() < cached[1]:
            self._verified.move_to_end(token)
            return cached[0]
        if self._external is not None and _issuer(token) == self._external.issuer:
            subject, expires_at = await self._external.authenticate(token)
        else:
            claims = self._tokens.decode_access_token(token)
            subject = TokenSubject(user_id=claims.user_id, sign_in_id=claims.sign_in_id)
            expires_at = claims.expires_at.timestamp()
        self._verified[token] = (subject, expires_at)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return subject


def _issuer(token: str) -> object:
    """The token's `iss`, unverified: it only chooses which verification the token gets."""
    try:
        # Routing only: whichever path it picks verifies signature and claims in full.
        claims = jwt.decode(  # nosemgrep: jwt-decode-unverified
            token, options={"verify_signature": False}
        )
    except jwt.PyJWTError:
        return None
    return claims.get("iss")
