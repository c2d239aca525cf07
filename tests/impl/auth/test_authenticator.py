from __future__ import annotations

import asyncio
import uuid

import pytest

from generated.runtime import Credentials, SecurityScheme
from impl.auth.authenticator import BearerAuthenticator
from impl.auth.principal import TokenSubject
from impl.auth.tokens import TokenService
from impl.kit.errors import Unauthorized
from impl.settings import Settings


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
