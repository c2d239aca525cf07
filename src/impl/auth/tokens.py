"""Access tokens (JWT, HS256) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt

from impl.kit.clock import utcnow
from impl.kit.errors import Unauthorized
from impl.kit.ids import new_id
from impl.settings import Settings

_ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["iss", "aud", "sub", "sid", "exp", "iat", "jti"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: UUID
    # The sign-in it was issued for (`impl.models.SignIn`): revoking that stops it.
    sign_in_id: UUID
    token_id: str
    issued_at: datetime
    expires_at: datetime


class TokenService:
    def __init__(self, settings: Settings) -> None:
        self._secret = settings.jwt_secret.get_secret_value()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._ttl = settings.access_token_ttl_seconds

    def issue_access_token(self, user_id: UUID, sign_in_id: UUID) -> tuple[str, int]:
        """Return a signed access token of `user_id`'s sign-in `sign_in_id`, and its
        lifetime in seconds."""
        now = utcnow()
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "sid": str(sign_in_id),
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self._ttl)).timestamp()),
            "jti": str(new_id()),
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM), self._ttl

    def decode_access_token(self, token: str) -> AccessClaims:
        """Verify signature, issuer, audience and expiry; `Unauthorized` for anything wrong."""
        try:
            # Pinning the algorithm list is what stops "alg: none" and key-confusion tokens.
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                options={"require": _REQUIRED_CLAIMS},
            )
            return AccessClaims(
                user_id=UUID(claims["sub"]),
                sign_in_id=UUID(claims["sid"]),
                token_id=str(claims["jti"]),
                issued_at=datetime.fromtimestamp(claims["iat"], UTC),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError, AttributeError) as error:
            raise invalid_token() from error


def invalid_token(detail: str = "Invalid or expired access token") -> Unauthorized:
    """The 401 for a bad bearer token, with the challenge RFC 6750 §3 asks for."""
    return Unauthorized(detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def new_refresh_token() -> tuple[str, str]:
    """Return a new refresh token and the SHA-256 hex digest that is stored in its place."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    # A plain hash suffices: the token is 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()
