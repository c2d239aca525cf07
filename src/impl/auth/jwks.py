"""The signing keys of an external OpenID Connect provider: an async, bounded JWKS cache.

PyJWT's own `PyJWKClient` fetches with blocking urllib (and drops its cache when a refresh
fails), so keys are fetched here with httpx and only handed to `jwt.PyJWK`. What the cache
promises, whatever the provider or a client does:

- keys are refetched when older than the TTL, or when a token names a `kid` we do not have
  (the provider rotated its keys);
- at most one fetch per `min_refresh_interval` seconds, however many forged `kid`s arrive,
  and one at a time: concurrent requests wait for the fetch in flight and share its result;
- a failed fetch (down, slow, an error status, a malformed set) keeps the last good keys;
  it is logged, and requests go on with the keys they had.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

logger = logging.getLogger(__name__)

# The asymmetric algorithms accepted from a provider; never an HMAC one, whose "key" would be
# the public key everybody can read.
ALGORITHMS = ("RS256", "ES256")
_KEY_TYPES = frozenset({"RSA", "EC"})
# RFC 7518 §3.3: RS256 keys of at least 2048 bits; a short one is forgeable.
_MIN_RSA_BITS = 2048
# A key set is a few kilobytes; more is not a key set.
_MAX_DOCUMENT_BYTES = 256 * 1024


class KeyNotFound(Exception):
    """No usable key for the token's `kid` (none known, or none fetched yet)."""


class _BadDocument(Exception):
    pass


class JwksCache:
    """The provider's keys by `kid`; see the module docstring for what it guarantees."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        issuer: str,
        jwks_url: str | None = None,
        ttl_seconds: float = 600.0,
        min_refresh_interval_seconds: float = 30.0,
        timeout_seconds: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._issuer = issuer
        # Found from the discovery document on the first fetch when not configured.
        self._jwks_url = jwks_url
        self._configured_url = jwks_url is not None
        self._ttl = ttl_seconds
        self._min_interval = min_refresh_interval_seconds
        self._timeout = timeout_seconds
        self._clock = clock
        self._keys: Mapping[str | None, jwt.PyJWK] | None = None
        self._fresh_until = float("-inf")
        self._attempted_at: float | None = None
        self._in_flight: asyncio.Task[None] | None = None

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The key for `kid` (None: the token names none, so the set must hold one key).
        `KeyNotFound` if there is none, even after the refresh it may trigger."""
        found = _find(self._keys, kid)
        if found is None or self._clock() >= self._fresh_until:
            await self._refresh()
            found = _find(self._keys, kid)
        if found is None:
            raise KeyNotFound(f"no key {kid!r} in the provider's key set")
        return found

    async def _refresh(self) -> None:
        # No await between the check and the start: concurrent callers see the fetch in
        # flight and wait for it instead of starting their own.
        if self._in_flight is None:
            now = self._clock()
            # Forged `kid`s (or a provider that is down) get one fetch per interval.
            if self._attempted_at is not None and now - self._attempted_at < self._min_interval:
                return
            self._attempted_at = now
            self._in_flight = asyncio.get_running_loop().create_task(self._refresh_now())
        # Shielded: a client that goes away does not cancel the fetch the others wait for.
        await asyncio.shield(self._in_flight)

    async def _refresh_now(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                keys = await self._fetch()
        except (TimeoutError, httpx.HTTPError, httpx.InvalidURL, _BadDocument) as error:
            kept = "none" if self._keys is None else f"{len(self._keys)} kept"
            logger.warning("JWKS refresh failed (keys: %s): %r", kept, error)
            if not self._configured_url:
                self._jwks_url = None  # discover again next time: the issuer may have moved it
            return
        finally:
            self._in_flight = None
        self._keys = keys
        self._fresh_until = self._clock() + self._ttl

    async def _fetch(self) -> dict[str | None, jwt.PyJWK]:
        if self._jwks_url is None:
            self._jwks_url = await self._discover()
        return _key_set(await self._document(self._jwks_url))

    async def _discover(self) -> str:
        """The `jwks_uri` of the issuer's discovery document (OpenID Connect Discovery §4)."""
        url = f"{self._issuer.rstrip('/')}/.well-known/openid-configuration"
        document = await self._document(url)
        # §4.3: the document must be the issuer's own, or its keys are someone else's.
        if document.get("issuer") != self._issuer:
            raise _BadDocument(f"discovery names issuer {document.get('issuer')!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise _BadDocument("discovery has no jwks_uri")
        return jwks_uri

    async def _document(self, url: str) -> dict[str, Any]:
        async with self._client.stream("GET", url, headers={"Accept": "application/json"}) as r:
            if r.status_code != httpx.codes.OK:
                raise _BadDocument(f"GET {url}: {r.status_code}")
            body = bytearray()
            async for chunk in r.aiter_bytes():
                body += chunk
                if len(body) > _MAX_DOCUMENT_BYTES:
                    raise _BadDocument(f"GET {url}: larger than {_MAX_DOCUMENT_BYTES} bytes")
        try:
            document = json.loads(bytes(body))
        except (ValueError, RecursionError) as error:
            raise _BadDocument(f"GET {url}: not JSON") from error
        if not isinstance(document, dict):
            raise _BadDocument(f"GET {url}: not a JSON object")
        return document


def _find(keys: Mapping[str | None, jwt.PyJWK] | None, kid: str | None) -> jwt.PyJWK | None:
    if keys is None:
        return None
    found = keys.get(kid)
    if found is None and kid is None and len(keys) == 1:
        # A provider with one key may leave `kid` out of its tokens (RFC 7515 §4.1.4).
        return next(iter(keys.values()))
    return found


def _key_set(document: Mapping[str, Any]) -> dict[str | None, jwt.PyJWK]:
    """The signature keys of a JWK set (RFC 7517 §5) we can verify with, by `kid`; a set
    with none is refused whole."""
    members = document.get("keys")
    if not isinstance(members, list):
        raise _BadDocument("no 'keys' list")
    keys: dict[str | None, jwt.PyJWK] = {}
    for member in members:
        if not isinstance(member, dict) or member.get("kty") not in _KEY_TYPES:
            continue
        if member.get("use", "sig") != "sig":
            continue
        kid = member.get("kid")
        if kid is not None and not isinstance(kid, str):
            continue
        try:
            key = jwt.PyJWK(member)
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            logger.warning("JWKS key %r skipped: %r", kid, error)
            continue
        if key.algorithm_name not in ALGORITHMS:
            continue
        if isinstance(key.key, RSAPublicKey) and key.key.key_size < _MIN_RSA_BITS:
            logger.warning("JWKS key %r skipped: %d-bit RSA", kid, key.key.key_size)
            continue
        keys[kid] = key
    if not keys:
        raise _BadDocument("no usable RS256 or ES256 signature key")
    return keys
