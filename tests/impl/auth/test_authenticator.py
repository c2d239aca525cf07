from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.auth.authenticator import BearerAuthenticator
from impl.auth.external import ExternalTokens
from impl.auth.jwks import JwksCache
from impl.auth.principal import TokenSubject
from impl.auth.tokens import TokenService
from impl.kit.errors import Unauthorized
from impl.settings import Settings
from specfirst import Credentials, SecurityScheme
from tests.fakes.oidc import AUDIENCE, FakeProvider, serve_provider


def _credentials(token: str) -> Credentials:
    return Credentials(scheme=SecurityScheme(name="OAuth2Password", type="oauth2"), value=token)


async def test_verified_tokens_are_remembered_only_until_they_expire() -> None:
    tokens = TokenService(Settings(access_token_ttl_seconds=1))
    authenticator = BearerAuthenticator(tokens)
    user_id, sign_in_id = uuid.uuid4(), uuid.uuid4()
    token, _ = tokens.issue_access_token(user_id, sign_in_id)

    first = await authenticator.authenticate(_credentials(token), [])
    again = await authenticator.authenticate(_credentials(token), [])
    assert first == again == TokenSubject(user_id=user_id, sign_in_id=sign_in_id)

    await asyncio.sleep(2.1)  # past `exp`, which has whole-second precision
    with pytest.raises(Unauthorized):
        await authenticator.authenticate(_credentials(token), [])


async def test_a_remembered_token_does_not_vouch_for_another() -> None:
    tokens = TokenService(Settings())
    authenticator = BearerAuthenticator(tokens)
    token, _ = tokens.issue_access_token(uuid.uuid4(), uuid.uuid4())
    await authenticator.authenticate(_credentials(token), [])
    with pytest.raises(Unauthorized):
        await authenticator.authenticate(_credentials(token[:-2] + "xx"), [])


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with serve_provider() as provider:
        yield provider


@pytest.fixture
async def both(
    provider: FakeProvider, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[tuple[BearerAuthenticator, TokenService]]:
    configured = settings.model_copy(
        update={"oidc_issuer": provider.issuer, "oidc_audience": AUDIENCE}
    )
    tokens = TokenService(configured)
    async with httpx.AsyncClient() as client:
        external = ExternalTokens(
            configured, JwksCache(client, issuer=provider.issuer), sessionmaker
        )
        yield BearerAuthenticator(tokens, external), tokens


async def test_beside_a_provider_our_tokens_are_still_ours(
    provider: FakeProvider, both: tuple[BearerAuthenticator, TokenService]
) -> None:
    authenticator, tokens = both
    user_id, sign_in_id = uuid.uuid4(), uuid.uuid4()
    token, _ = tokens.issue_access_token(user_id, sign_in_id)

    subject = await authenticator.authenticate(_credentials(token), [])

    assert subject == TokenSubject(user_id=user_id, sign_in_id=sign_in_id)
    assert provider.jwks_fetches == 0


async def test_provider_tokens_are_the_providers_and_remembered(
    provider: FakeProvider, both: tuple[BearerAuthenticator, TokenService]
) -> None:
    authenticator, _ = both
    token = provider.token("user_1")

    first = await authenticator.authenticate(_credentials(token), [])
    again = await authenticator.authenticate(_credentials(token), [])

    assert first == again
    assert first.identity_id is not None
    assert first.sign_in_id is None


async def test_no_kind_of_token_is_verified_with_the_other_kinds_key(
    provider: FakeProvider, both: tuple[BearerAuthenticator, TokenService], settings: Settings
) -> None:
    authenticator, _ = both
    now = int(time.time())
    ours: dict[str, Any] = {"aud": settings.jwt_audience, "sid": str(uuid.uuid4()), "jti": "j"}
    ours["iat"] = now
    claims = {**ours, "sub": str(uuid.uuid4()), "exp": now + 60}
    secret = settings.jwt_secret.get_secret_value()
    forged = [
        # The provider's issuer, signed with our HS256 key.
        jwt.encode({**claims, "iss": provider.issuer}, secret, algorithm="HS256"),
        # Our issuer, signed with the provider's RSA key.
        provider.token(iss=settings.jwt_issuer, **ours),
    ]
    for token in forged:
        with pytest.raises(Unauthorized):
            await authenticator.authenticate(_credentials(token), [])
