"""Tokens of an external provider (a fake one on loopback): what is refused, and the
accounts their subjects get, on the real database."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.auth.external import PLACEHOLDER_DOMAIN, ExternalClaims, ExternalTokens
from impl.auth.jwks import JwksCache
from impl.auth.passwords import verify_password
from impl.kit.db import create_engine, create_sessionmaker, unit_of_work
from impl.kit.errors import ServiceUnavailable, Unauthorized
from impl.models import ExternalIdentity, User
from impl.settings import Settings
from tests.fakes.oidc import (
    AUDIENCE,
    AUTHORIZED_PARTY,
    REFUSALS,
    FakeProvider,
    refused_tokens,
    serve_provider,
)


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with serve_provider() as provider:
        yield provider


@pytest.fixture
async def external(
    provider: FakeProvider, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[ExternalTokens]:
    configured = settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_audience": AUDIENCE,
            "oidc_authorized_parties": (AUTHORIZED_PARTY,),
        }
    )
    async with httpx.AsyncClient(timeout=httpx.Timeout(1)) as client:
        jwks = JwksCache(client, issuer=provider.issuer, timeout_seconds=1)
        yield ExternalTokens(configured, jwks, sessionmaker)


@pytest.mark.parametrize("kind", ["RSA", "EC"])
async def test_a_valid_token_is_verified(
    provider: FakeProvider, external: ExternalTokens, kind: Any
) -> None:
    claims = await external.verify(provider.token("user_1", kind=kind))

    assert (claims.issuer, claims.subject, claims.email) == (provider.issuer, "user_1", None)


async def test_expiry_within_the_leeway_is_accepted(
    provider: FakeProvider, external: ExternalTokens
) -> None:
    now = int(time.time())
    token = provider.token(exp=now - 10, iat=now - 70, nbf=now + 10)

    assert (await external.verify(token)).subject == "user_2abc"


def test_every_refused_token_is_a_case(provider: FakeProvider) -> None:
    assert list(refused_tokens(provider)) == REFUSALS


@pytest.mark.parametrize("case", REFUSALS)
async def test_refused(provider: FakeProvider, external: ExternalTokens, case: str) -> None:
    token = refused_tokens(provider)[case]

    with pytest.raises(Unauthorized) as refused:
        await external.verify(token)

    assert refused.value.headers == {"WWW-Authenticate": 'Bearer error="invalid_token"'}


async def test_refused_tokens_fetch_nothing_before_their_algorithm_is_checked(
    provider: FakeProvider, external: ExternalTokens
) -> None:
    cases = refused_tokens(provider)
    for case in ("hs256-with-public-key", "alg-none", "garbage"):
        with pytest.raises(Unauthorized):
            await external.verify(cases[case])

    assert provider.jwks_fetches == 0


def _claims(provider: FakeProvider, subject: str, email: str | None = None) -> ExternalClaims:
    return ExternalClaims(provider.issuer, subject, email, time.time() + 60)


async def _users(sessionmaker: async_sessionmaker[AsyncSession]) -> list[User]:
    async with sessionmaker() as session:
        return list((await session.scalars(select(User))).all())


async def test_a_first_token_provisions_an_account_with_its_verified_email(
    provider: FakeProvider,
    external: ExternalTokens,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    token = provider.token("user_1", email="Ada@Example.com", email_verified=True)

    subject, expires_at = await external.authenticate(token)

    [user] = await _users(sessionmaker)
    assert subject.user_id == user.id
    assert subject.sign_in_id is None
    assert subject.identity_id is not None
    assert expires_at > time.time()
    assert user.email == "ada@example.com"
    assert re.fullmatch(r"^[a-z0-9](?:[a-z0-9_-]{1,30}[a-z0-9])$", user.username)
    assert not verify_password(user.password_hash, "")
    assert not verify_password(user.password_hash, user.password_hash)


@pytest.mark.parametrize(
    "extra",
    [{}, {"email": "ada@example.com"}, {"email": "ada@example.com", "email_verified": "true"}],
    ids=["no-email", "unverified", "verified-as-string"],
)
async def test_without_a_verified_email_the_account_gets_a_placeholder(
    provider: FakeProvider,
    external: ExternalTokens,
    sessionmaker: async_sessionmaker[AsyncSession],
    extra: dict[str, Any],
) -> None:
    await external.authenticate(provider.token("user_1", **extra))

    [user] = await _users(sessionmaker)
    assert user.email == f"{user.username}@{PLACEHOLDER_DOMAIN}"


async def test_the_same_subject_is_the_same_account(
    provider: FakeProvider,
    external: ExternalTokens,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    first, _ = await external.authenticate(provider.token("user_1", kind="RSA"))
    second, _ = await external.authenticate(provider.token("user_1", kind="EC"))
    other, _ = await external.authenticate(provider.token("user_2"))

    assert first == second
    assert other.user_id != first.user_id
    assert len(await _users(sessionmaker)) == 2


async def test_an_existing_account_is_never_taken_over_by_email(
    provider: FakeProvider,
    external: ExternalTokens,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with unit_of_work(sessionmaker) as session:
        session.add(User(email="ada@example.com", username="ada", password_hash="x"))

    subject, _ = await external.authenticate(
        provider.token("user_1", email="ada@example.com", email_verified=True)
    )

    users = {user.id: user for user in await _users(sessionmaker)}
    assert len(users) == 2
    assert users[subject.user_id].username != "ada"
    assert users[subject.user_id].email.endswith(f"@{PLACEHOLDER_DOMAIN}")


async def test_concurrent_first_tokens_make_one_account(
    provider: FakeProvider,
    external: ExternalTokens,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    claims = _claims(provider, "user_1", "ada@example.com")

    results = await asyncio.gather(*(external.provision(claims) for _ in range(5)))

    assert len(set(results)) == 1
    async with sessionmaker() as session:
        identities = await session.scalar(select(func.count()).select_from(ExternalIdentity))
    assert identities == 1
    assert len(await _users(sessionmaker)) == 1


async def test_a_database_down_while_provisioning_is_503(
    provider: FakeProvider, settings: Settings, unreachable: async_sessionmaker[AsyncSession]
) -> None:
    configured = settings.model_copy(
        update={"oidc_issuer": provider.issuer, "oidc_audience": AUDIENCE}
    )
    async with httpx.AsyncClient() as client:
        external = ExternalTokens(
            configured, JwksCache(client, issuer=provider.issuer), unreachable
        )
        with pytest.raises(ServiceUnavailable) as refused:
            await external.authenticate(provider.token("user_1"))

    assert refused.value.headers == {"Retry-After": "2"}


@pytest.fixture
async def unreachable() -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    # Nothing listens on port 1 of loopback: every connection is refused.
    url = "postgresql+asyncpg://postgres@127.0.0.1:1/none"
    engine = create_engine(Settings(database_url=url, db_connect_timeout_seconds=1))
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()
