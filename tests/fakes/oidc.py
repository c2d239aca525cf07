"""A fake OpenID Connect provider served over real HTTP on loopback, with faults on demand.

It serves a discovery document and a JWKS, signs tokens with its own RSA and EC keys, counts
the requests it gets, and can rotate its keys, answer 500, answer slowly, serve a malformed
key set, or go away altogether (connection refused).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.serving import serve

KeyKind = Literal["RSA", "EC"]
Fault = Literal["none", "error", "slow", "malformed"]
AUDIENCE = "storefront-shop"
AUTHORIZED_PARTY = "https://shop.example"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    kind: KeyKind
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @property
    def algorithm(self) -> str:
        return "RS256" if self.kind == "RSA" else "ES256"

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.algorithm}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def new_key(kind: KeyKind, kid: str) -> SigningKey:
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "RSA"
        else ec.generate_private_key(ec.SECP256R1())
    )
    return SigningKey(kid, kind, private)


class FakeProvider:
    """The provider's state; the HTTP app reads it on every request."""

    def __init__(self) -> None:
        self.keys = [new_key("RSA", "rsa-1"), new_key("EC", "ec-1")]
        self.fault: Fault = "none"
        self.malformed_body = b"not json"
        self.slow_seconds = 2.0
        self.requests: Counter[str] = Counter()
        self.base_url = ""
        self._rotations = 0
        # Set by `serve_provider`: stops the server, so connections to it are refused.
        self.go_down: Callable[[], None] = lambda: None

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def jwks_fetches(self) -> int:
        return self.requests["/.well-known/jwks.json"]

    def key(self, kind: KeyKind = "RSA") -> SigningKey:
        return next(key for key in reversed(self.keys) if key.kind == kind)

    def rotate(self, kind: KeyKind = "RSA") -> SigningKey:
        """Publish a new key of `kind` in place of the old one; tokens of it name a new kid."""
        self._rotations += 1
        fresh = new_key(kind, f"{kind.lower()}-rotated-{self._rotations}")
        self.keys = [key for key in self.keys if key.kind != kind] + [fresh]
        return fresh

    def claims(self, subject: str = "user_2abc", **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": AUDIENCE,
            "azp": AUTHORIZED_PARTY,
            "iat": now,
            "nbf": now,
            "exp": now + 60,
        }
        return {k: v for k, v in {**claims, **overrides}.items() if v is not None}

    def token(
        self,
        subject: str = "user_2abc",
        *,
        kind: KeyKind = "RSA",
        key: SigningKey | None = None,
        kid: str | None = "",
        **claims: Any,
    ) -> str:
        """A token of `subject` signed with the current key of `kind` (or `key`); `kid`
        overrides the header's key id ("" keeps the key's own, None leaves it out)."""
        key = key or self.key(kind)
        headers = {"kid": key.kid if kid == "" else kid}
        if kid is None:
            headers = {}
        return jwt.encode(
            self.claims(subject, **claims), key.private, algorithm=key.algorithm, headers=headers
        )

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.public_jwk() for key in self.keys]}


def unsigned_token(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A JWT built by hand: HS256 over `secret` (PyJWT refuses a PEM as an HMAC secret, which
    is the point of the attack), or no signature at all (`alg: none`) without one."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{part(json.dumps(header).encode())}.{part(json.dumps(claims).encode())}"
    if secret is None:
        return f"{signing_input}."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


def refused_tokens(provider: FakeProvider) -> dict[str, str]:
    """Tokens a verifier of `provider` must refuse, by what is wrong with them."""
    now = int(time.time())
    rsa = provider.key("RSA")
    claims = provider.claims()
    impostor = new_key("RSA", rsa.kid)
    return {
        # The provider's public key used as an HMAC secret (algorithm confusion).
        "hs256-with-public-key": unsigned_token(
            {"alg": "HS256", "typ": "JWT", "kid": rsa.kid}, claims, rsa.public_pem()
        ),
        "alg-none": unsigned_token({"alg": "none", "typ": "JWT", "kid": rsa.kid}, claims, None),
        "wrong-issuer": provider.token(iss="https://impostor.example"),
        "wrong-audience": provider.token(aud="another-api"),
        "no-audience": provider.token(aud=None),
        "azp-not-allowed": provider.token(azp="https://evil.example"),
        "no-azp": provider.token(azp=None),
        "expired": provider.token(exp=now - 31, iat=now - 120, nbf=now - 120),
        "issued-in-the-future": provider.token(iat=now + 120, nbf=now, exp=now + 180),
        "not-yet-valid": provider.token(nbf=now + 120, exp=now + 180),
        "no-expiry": provider.token(exp=None),
        "no-subject": provider.token(sub=None),
        "empty-subject": provider.token(""),
        "signed-by-another-key": provider.token(key=impostor),
        "ec-key-named-as-rsa": provider.token(kind="EC", kid=rsa.kid),
        "unknown-kid": provider.token(kid="forged"),
        "garbage": "not.a.token",
    }


REFUSALS = [
    "hs256-with-public-key",
    "alg-none",
    "wrong-issuer",
    "wrong-audience",
    "no-audience",
    "azp-not-allowed",
    "no-azp",
    "expired",
    "issued-in-the-future",
    "not-yet-valid",
    "no-expiry",
    "no-subject",
    "empty-subject",
    "signed-by-another-key",
    "ec-key-named-as-rsa",
    "unknown-kid",
    "garbage",
]


def _app(provider: FakeProvider) -> Starlette:
    async def fault(request: Request) -> Response | None:
        provider.requests[request.url.path] += 1
        if provider.fault == "error":
            return Response("provider on fire", status_code=500)
        if provider.fault == "slow":
            await asyncio.sleep(provider.slow_seconds)
        return None

    async def discovery(request: Request) -> Response:
        failed = await fault(request)
        return failed or JSONResponse(
            {"issuer": provider.issuer, "jwks_uri": f"{provider.base_url}/.well-known/jwks.json"}
        )

    async def jwks(request: Request) -> Response:
        failed = await fault(request)
        if failed is not None:
            return failed
        if provider.fault == "malformed":
            return Response(provider.malformed_body, media_type="application/json")
        return JSONResponse(provider.jwks())

    return Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery),
            Route("/.well-known/jwks.json", jwks),
        ]
    )


@contextmanager
def serve_provider() -> Iterator[FakeProvider]:
    """A fake provider under uvicorn in a thread, on a free loopback port."""
    provider = FakeProvider()
    with serve(_app(provider)) as served:
        provider.base_url = served.base_url
        provider.go_down = served.go_down
        yield provider
