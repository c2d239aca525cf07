from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import jwt
import pytest

from impl.auth.tokens import TokenService, hash_refresh_token, new_refresh_token
from impl.kit.errors import Unauthorized
from impl.settings import Settings

SECRET = "x" * 64


@pytest.fixture
def tokens() -> TokenService:
    return TokenService(Settings(jwt_secret=SECRET))


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": "storefront",
        "aud": "storefront-api",
        "sub": str(uuid.uuid4()),
        "sid": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 60,
        "jti": "j",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def test_round_trip(tokens: TokenService) -> None:
    user_id, sign_in_id = uuid.uuid4(), uuid.uuid4()
    token, expires_in = tokens.issue_access_token(user_id, sign_in_id)
    assert expires_in == 900
    claims = tokens.decode_access_token(token)
    assert (claims.user_id, claims.sign_in_id) == (user_id, sign_in_id)
    assert (claims.expires_at - claims.issued_at).total_seconds() == 900
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "HS256"


def test_each_token_has_its_own_id(tokens: TokenService) -> None:
    user_id = uuid.uuid4()
    first, _ = tokens.issue_access_token(user_id, uuid.uuid4())
    second, _ = tokens.issue_access_token(user_id, uuid.uuid4())
    assert tokens.decode_access_token(first).token_id != tokens.decode_access_token(second).token_id


@pytest.mark.parametrize(
    ("claims", "key", "algorithm"),
    [
        pytest.param(_claims(exp=int(time.time()) - 10), SECRET, "HS256", id="expired"),
        pytest.param(_claims(aud="someone-else"), SECRET, "HS256", id="audience"),
        pytest.param(_claims(iss="someone-else"), SECRET, "HS256", id="issuer"),
        pytest.param(_claims(jti=None), SECRET, "HS256", id="missing-jti"),
        pytest.param(_claims(sub="not-a-uuid"), SECRET, "HS256", id="bad-subject"),
        pytest.param(_claims(sid=None), SECRET, "HS256", id="missing-sign-in"),
        pytest.param(_claims(sid=7), SECRET, "HS256", id="bad-sign-in"),
        pytest.param(_claims(), "y" * 64, "HS256", id="other-key"),
        pytest.param(_claims(), SECRET, "HS512", id="algorithm-not-pinned"),
    ],
)
def test_rejected(tokens: TokenService, claims: dict[str, Any], key: str, algorithm: str) -> None:
    token = jwt.encode(claims, key, algorithm=algorithm)
    with pytest.raises(Unauthorized) as caught:
        tokens.decode_access_token(token)
    assert caught.value.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_garbage(tokens: TokenService, token: str) -> None:
    with pytest.raises(Unauthorized):
        tokens.decode_access_token(token)


def test_alg_none_is_rejected(tokens: TokenService) -> None:
    token = jwt.encode(_claims(), "", algorithm="none")
    with pytest.raises(Unauthorized):
        tokens.decode_access_token(token)


def test_refresh_tokens_are_random_and_stored_hashed() -> None:
    token, digest = new_refresh_token()
    other, _ = new_refresh_token()
    assert token != other
    assert len(token) >= 43
    assert digest == hashlib.sha256(token.encode()).hexdigest() == hash_refresh_token(token)
