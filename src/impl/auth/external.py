"""Bearer tokens of an external OpenID Connect provider, beside our own.

A token is the provider's when its (unverified) `iss` is the configured issuer; it is then
verified only as the provider's: its keys (`impl.auth.jwks`), its asymmetric algorithms, its
audience and authorised parties. Nothing falls back to the other kind of token on failure, so
no key of one can verify a token of the other. A subject's first valid token makes it an
account (`provision`), linked by `external_identities`; later ones sign it in as that account.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.auth.jwks import ALGORITHMS, JwksCache, KeyNotFound
from impl.auth.principal import TokenSubject
from impl.auth.repository import ExternalIdentityRepository
from impl.auth.tokens import invalid_token
from impl.kit.db import unavailable_as_503, unit_of_work
from impl.settings import Settings

_REQUIRED_CLAIMS = ["iss", "sub", "exp", "iat"]
_MAX_SUBJECT = 255
_EMAIL = TypeAdapter(EmailStr)
# The contract's longest address (openapi/components/schemas/user.yaml).
_MAX_EMAIL = 254
# Provisioned accounts have an address of their own here when the token gives no verified
# one: a reserved domain (RFC 2606), never delivered to.
PLACEHOLDER_DOMAIN = "external.storefront.example"
# Not an argon2 hash: `verify_password` refuses it, so the account has no password sign-in.
# A hash no password matches, not a password.
UNUSABLE_PASSWORD = "!external"  # noqa: S105 # nosemgrep: hardcoded-secret


@dataclass(frozen=True, slots=True)
class ExternalClaims:
    issuer: str
    subject: str
    # Only an address the provider says it verified.
    email: str | None
    expires_at: float


class ExternalTokens:
    """Verifies the provider's tokens and maps their subjects to accounts."""

    def __init__(
        self,
        settings: Settings,
        jwks: JwksCache,
        sessionmaker: async_sessionmaker[AsyncSession],
    ) -> None:
        if settings.oidc_issuer is None:
            raise ValueError("no OIDC_ISSUER configured")
        self.issuer = settings.oidc_issuer
        self._audience = settings.oidc_audience
        self._parties = frozenset(settings.oidc_authorized_parties)
        self._leeway = settings.oidc_leeway_seconds
        self._jwks = jwks
        self._sessionmaker = sessionmaker
        self._required = _REQUIRED_CLAIMS + (["aud"] if self._audience else [])

    async def authenticate(self, token: str) -> tuple[TokenSubject, float]:
        """The subject of a valid provider token and its expiry (Unix time); 401 if the
        token is not valid, 503 if the database is down while provisioning."""
        claims = await self.verify(token)
        identity_id, user_id = await self.provision(claims)
        subject = TokenSubject(user_id=user_id, sign_in_id=None, identity_id=identity_id)
        return subject, claims.expires_at

    async def verify(self, token: str) -> ExternalClaims:
        """Signature (the provider's keys, RS256/ES256 only), issuer, audience, `azp`, and
        expiry within the leeway; `Unauthorized` for anything wrong."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise invalid_token() from error
        kid = header.get("kid")
        # Refused before any key is looked up, so a bad token costs no fetch.
        if header.get("alg") not in ALGORITHMS or not isinstance(kid, str | None):
            raise invalid_token()
        try:
            key = await self._jwks.key(kid)
        except KeyNotFound as error:
            raise invalid_token() from error
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self._audience,
                issuer=self.issuer,
                leeway=self._leeway,
                options={"require": self._required},
            )
        except (jwt.PyJWTError, ValueError, TypeError, OverflowError) as error:
            raise invalid_token() from error
        return ExternalClaims(
            issuer=self.issuer,
            subject=self._subject(claims),
            email=_verified_email(claims),
            expires_at=float(claims["exp"]),
        )

    def _subject(self, claims: dict[str, Any]) -> str:
        # OpenID Connect Core §2: the authorised party is the client the token was issued to.
        if self._parties and claims.get("azp") not in self._parties:
            raise invalid_token()
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > _MAX_SUBJECT:
            raise invalid_token()
        return subject

    async def provision(self, claims: ExternalClaims) -> tuple[uuid.UUID, uuid.UUID]:
        """The (identity id, user id) of `claims`' subject, making the account on its first
        token. Two first tokens at once make one account: the unique link decides."""
        with unavailable_as_503():
            async with unit_of_work(self._sessionmaker) as session:
                return await _link(ExternalIdentityRepository(session), claims)


async def _link(
    identities: ExternalIdentityRepository, claims: ExternalClaims
) -> tuple[uuid.UUID, uuid.UUID]:
    found = await identities.find(claims.issuer, claims.subject)
    if found is not None:
        return found
    email = claims.email
    if email is not None and await identities.email_taken(email):
        # Never linked to an existing account by address: that would hand it to whoever
        # controls the provider's record of the address.
        email = None
    for _ in range(3):
        username = f"oidc-{secrets.token_hex(8)}"
        try:
            made = await identities.create(
                issuer=claims.issuer,
                subject=claims.subject,
                email=email or f"{username}@{PLACEHOLDER_DOMAIN}",
                username=username,
                password_hash=UNUSABLE_PASSWORD,
            )
        except IntegrityError:
            # The address was taken meanwhile (or, once in 2**64, the username).
            email = None
            continue
        if made is not None:
            return made
        found = await identities.find(claims.issuer, claims.subject)
        if found is not None:
            return found
    raise RuntimeError(f"could not provision {claims.subject!r} of {claims.issuer!r}")


def _verified_email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    if claims.get("email_verified") is not True or not isinstance(email, str):
        return None
    email = email.strip().lower()
    if len(email) > _MAX_EMAIL:
        return None
    try:
        _EMAIL.validate_python(email)
    except ValidationError:
        return None
    return email
