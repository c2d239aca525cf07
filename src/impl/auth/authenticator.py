"""Turns the bearer token of a request into a TokenSubject, for the generated routes."""

from __future__ import annotations

from collections.abc import Sequence

from generated.runtime import Credentials
from impl.auth.principal import TokenSubject
from impl.auth.tokens import TokenService


class BearerAuthenticator:
    """Verifies the JWT only; no database work.

    Whether the account is still active is checked by the request's context, in the request's
    own transaction: one session per request, not two.
    """

    def __init__(self, tokens: TokenService) -> None:
        self._tokens = tokens

    async def authenticate(self, credentials: Credentials, scopes: Sequence[str]) -> TokenSubject:
        return TokenSubject(user_id=self._tokens.decode_access_token(credentials.value).user_id)
