"""The JWKS cache against a fake provider on loopback: rotation, bursts of forged kids,
outages, slowness and malformed key sets, with an injected clock instead of sleeping."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from impl.auth.jwks import JwksCache, KeyNotFound
from tests.fakes.oidc import FakeProvider, serve_provider
from tests.polling import until


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def provider() -> Iterator[FakeProvider]:
    with serve_provider() as provider:
        yield provider


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(0.5)) as client:
        yield client


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def cache(provider: FakeProvider, client: httpx.AsyncClient, clock: Clock) -> JwksCache:
    return JwksCache(client, issuer=provider.issuer, clock=clock, timeout_seconds=0.5)


async def test_keys_come_from_the_discovered_jwks_uri(
    provider: FakeProvider, cache: JwksCache
) -> None:
    rsa = await cache.key("rsa-1")
    ec = await cache.key("ec-1")

    assert (rsa.algorithm_name, ec.algorithm_name) == ("RS256", "ES256")
    assert provider.requests["/.well-known/openid-configuration"] == 1
    assert provider.jwks_fetches == 1


async def test_a_configured_jwks_url_skips_discovery(
    provider: FakeProvider, client: httpx.AsyncClient, clock: Clock
) -> None:
    url = f"{provider.base_url}/.well-known/jwks.json"
    cache = JwksCache(client, issuer=provider.issuer, jwks_url=url, clock=clock)

    await cache.key("rsa-1")

    assert provider.requests["/.well-known/openid-configuration"] == 0
    assert provider.jwks_fetches == 1


async def test_discovery_of_another_issuer_is_refused(
    provider: FakeProvider, client: httpx.AsyncClient, clock: Clock
) -> None:
    cache = JwksCache(client, issuer=f"{provider.issuer}/", clock=clock)

    with pytest.raises(KeyNotFound):
        await cache.key("rsa-1")
    assert provider.jwks_fetches == 0


async def test_known_keys_are_served_from_the_cache_until_the_ttl(
    provider: FakeProvider, cache: JwksCache, clock: Clock
) -> None:
    await cache.key("rsa-1")
    clock.advance(599)
    await cache.key("rsa-1")
    await cache.key("ec-1")
    assert provider.jwks_fetches == 1

    clock.advance(2)
    await cache.key("rsa-1")
    assert provider.jwks_fetches == 2


async def test_a_rotated_key_is_fetched_once_and_found(
    provider: FakeProvider, cache: JwksCache, clock: Clock
) -> None:
    await cache.key("rsa-1")
    clock.advance(31)
    fresh = provider.rotate("RSA")

    key = await cache.key(fresh.kid)

    assert key.key_id == fresh.kid
    assert provider.jwks_fetches == 2


async def test_forged_kids_get_at_most_one_fetch_per_30_seconds(
    provider: FakeProvider, cache: JwksCache, clock: Clock
) -> None:
    await cache.key("rsa-1")
    clock.advance(31)

    for attempt in range(50):
        with pytest.raises(KeyNotFound):
            await cache.key(f"forged-{attempt}")
        clock.advance(0.5)  # 25 s in all
    assert provider.jwks_fetches == 2

    clock.advance(6)
    with pytest.raises(KeyNotFound):
        await cache.key("forged-again")
    assert provider.jwks_fetches == 3


async def test_concurrent_requests_for_a_new_kid_share_one_fetch(
    provider: FakeProvider, cache: JwksCache, clock: Clock
) -> None:
    await cache.key("rsa-1")
    clock.advance(31)
    fresh = provider.rotate("EC")

    keys = await asyncio.gather(*(cache.key(fresh.kid) for _ in range(20)))

    assert {key.key_id for key in keys} == {fresh.kid}
    assert provider.jwks_fetches == 2


async def test_a_client_going_away_does_not_cancel_the_fetch_others_wait_for(
    provider: FakeProvider, client: httpx.AsyncClient
) -> None:
    cache = JwksCache(client, issuer=provider.issuer, timeout_seconds=5)
    provider.fault = "slow"
    provider.slow_seconds = 0.2
    leaving = asyncio.create_task(cache.key("rsa-1"))
    staying = asyncio.create_task(cache.key("rsa-1"))
    await until(lambda: provider.requests["/.well-known/openid-configuration"])

    leaving.cancel()

    assert (await staying).key_id == "rsa-1"
    assert leaving.cancelled()
    assert provider.jwks_fetches == 1


async def test_concurrent_first_requests_share_one_fetch(
    provider: FakeProvider, cache: JwksCache
) -> None:
    keys = await asyncio.gather(*(cache.key("rsa-1") for _ in range(20)))

    assert len(keys) == 20
    assert provider.jwks_fetches == 1


@pytest.mark.parametrize("fault", ["error", "slow"])
async def test_a_failed_refresh_keeps_the_last_good_keys(
    provider: FakeProvider,
    cache: JwksCache,
    clock: Clock,
    fault: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await cache.key("rsa-1")
    provider.fault = fault  # type: ignore[assignment]
    clock.advance(601)

    with caplog.at_level(logging.WARNING, logger="impl.auth.jwks"):
        key = await cache.key("rsa-1")

    assert key.key_id == "rsa-1"
    assert provider.jwks_fetches == 2
    assert "JWKS refresh failed (keys: 2 kept)" in caplog.text


async def test_a_provider_that_went_away_leaves_the_cached_keys(
    provider: FakeProvider, cache: JwksCache, clock: Clock
) -> None:
    await cache.key("ec-1")
    provider.go_down()
    clock.advance(601)

    key = await cache.key("ec-1")

    assert key.key_id == "ec-1"
    with pytest.raises(KeyNotFound):
        await cache.key("rsa-rotated-1")


async def test_the_keys_come_back_with_the_provider(
    provider: FakeProvider, cache: JwksCache, clock: Clock
) -> None:
    provider.fault = "error"
    with pytest.raises(KeyNotFound):
        await cache.key("rsa-1")

    provider.fault = "none"
    with pytest.raises(KeyNotFound):
        await cache.key("rsa-1")  # within 30 s of the failed fetch: no new one
    clock.advance(31)
    assert (await cache.key("rsa-1")).key_id == "rsa-1"
    assert provider.requests["/.well-known/openid-configuration"] == 2


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"no": "keys"}',
        b'{"keys": "none"}',
        b'{"keys": []}',
        b'{"keys": [{"kty": "oct", "kid": "rsa-1", "k": "c2VjcmV0"}]}',
        b'{"keys": [{"kty": "RSA", "kid": "rsa-1", "n": "garbage", "e": "AQAB"}]}',
        b'{"keys": [{"kty": "OKP", "kid": "rsa-1", "crv": "Ed25519", "x": "AAAA"}]}',
        b'{"keys": [42, "x", null]}',
    ],
    ids=[
        "not-json",
        "array",
        "no-keys",
        "keys-not-list",
        "empty",
        "hmac",
        "bad-rsa",
        "okp",
        "junk",
    ],
)
async def test_a_malformed_key_set_is_refused_and_the_last_good_kept(
    provider: FakeProvider, cache: JwksCache, clock: Clock, body: bytes
) -> None:
    good = await cache.key("rsa-1")
    provider.fault = "malformed"
    provider.malformed_body = body
    clock.advance(601)

    key = await cache.key("rsa-1")

    assert provider.jwks_fetches == 2
    assert key.key_id == good.key_id
    assert key.key is good.key


async def test_unusable_keys_are_skipped_beside_good_ones(
    provider: FakeProvider, cache: JwksCache
) -> None:
    good = provider.jwks()["keys"]
    provider.fault = "malformed"
    encryption = {**good[0], "kid": "enc", "use": "enc"}
    hmac = {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}
    provider.malformed_body = httpx.Response(200, json={"keys": [encryption, hmac, *good]}).content

    assert (await cache.key("ec-1")).key_id == "ec-1"
    for kid in ("enc", "hmac"):
        with pytest.raises(KeyNotFound):
            await cache.key(kid)


async def test_a_token_without_kid_uses_a_single_key(
    provider: FakeProvider, cache: JwksCache
) -> None:
    provider.keys = provider.keys[:1]

    assert (await cache.key(None)).key_id == "rsa-1"


async def test_a_token_without_kid_is_refused_among_several_keys(cache: JwksCache) -> None:
    with pytest.raises(KeyNotFound):
        await cache.key(None)
