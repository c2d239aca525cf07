from __future__ import annotations

from typing import Any

import pytest
from limits.aio.storage import MemoryStorage, RedisStorage

from impl.kit.errors import TooManyRequests
from impl.ratelimits import (
    RateLimiter,
    RatePolicy,
    SignInThrottle,
    create_storage,
    header_fields,
)

DOCUMENT: dict[str, Any] = {
    "x-rate-limit": {"limit": 3, "window": 60, "key": "principal"},
    "paths": {
        "/a": {"get": {"operationId": "get_a"}, "post": {"operationId": "create_a"}},
        "/token": {
            "post": {
                "operationId": "create_token",
                "x-rate-limit": [
                    {"limit": 2, "window": 60, "key": "ip"},
                    {"limit": 5, "window": 3600, "key": "ip"},
                ],
            }
        },
        "/healthz": {"get": {"operationId": "get_health", "x-rate-limit": False}},
        "/teams/{team_id}/x": {
            "get": {
                "operationId": "get_x",
                "x-rate-limit": {"limit": 1, "window": 10, "key": "team"},
            }
        },
    },
}


class TestRatePolicy:
    def test_defaults_overrides_and_exemptions(self) -> None:
        policy = RatePolicy.from_document(DOCUMENT)
        (default,) = policy.limits("get_a")
        assert (default.name, default.limit, default.window, default.key) == (
            "default-principal",
            3,
            60,
            "principal",
        )
        assert policy.limits("create_a") == policy.limits("get_a")
        assert [(x.name, x.limit) for x in policy.limits("create_token")] == [
            ("create_token-ip", 2),
            ("create_token-ip", 5),
        ]
        assert policy.limits("get_health") == ()

    def test_scale(self) -> None:
        policy = RatePolicy.from_document(DOCUMENT, scale=10)
        assert [x.limit for x in policy.limits("create_token")] == [20, 50]

    @pytest.mark.parametrize(
        "declared",
        [
            {"limit": 0, "window": 60, "key": "ip"},
            {"limit": 1, "window": 60, "key": "email"},
            {"limit": 1, "window": "1 minute", "key": "ip"},
            {"limit": 1, "key": "ip"},
            "10/minute",
        ],
    )
    def test_a_malformed_limit_fails_at_start(self, declared: object) -> None:
        with pytest.raises(ValueError, match="x-rate-limit"):
            RatePolicy.from_document({"x-rate-limit": declared, "paths": {}})


class TestRateLimiter:
    async def test_counts_per_key_and_refuses_past_the_limit(self) -> None:
        limiter = RateLimiter(RatePolicy.from_document(DOCUMENT), MemoryStorage())
        for remaining in (2, 1, 0):
            (counted,) = await limiter.hit("get_a", ip="1.1.1.1", principal="ada", team=None)
            assert counted.remaining == remaining
        # The default's budget is shared by the operations under it.
        with pytest.raises(TooManyRequests) as refused:
            await limiter.hit("create_a", ip="1.1.1.1", principal="ada", team=None)
        assert refused.value.status == 429
        assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
        assert refused.value.headers["RateLimit-Policy"] == '"default-principal";q=3;w=60'
        assert refused.value.headers["RateLimit"].startswith('"default-principal";r=0;t=')
        # Another caller from the same address has a budget of their own; anonymous callers
        # are counted by address.
        assert await limiter.hit("get_a", ip="1.1.1.1", principal="bob", team=None)
        assert await limiter.hit("get_a", ip="1.1.1.1", principal=None, team=None)
        assert await limiter.hit("get_health", ip="1.1.1.1", principal="ada", team=None) == []

    async def test_team_key(self) -> None:
        limiter = RateLimiter(RatePolicy.from_document(DOCUMENT), MemoryStorage())
        await limiter.hit("get_x", ip="1", principal="ada", team="t1")
        with pytest.raises(TooManyRequests):
            await limiter.hit("get_x", ip="2", principal="bob", team="t1")
        assert await limiter.hit("get_x", ip="2", principal="bob", team="t2")

    async def test_shared_through_redis(self, redis_url: str, redis_prefix: str) -> None:
        policy = RatePolicy.from_document(DOCUMENT)
        storages = [create_storage(redis_url) for _ in range(2)]
        for storage in storages:
            assert isinstance(storage, RedisStorage)
        # Two workers, one count: the second worker sees the first one's hits.
        workers = [RateLimiter(policy, s) for s in storages]
        await workers[0].hit("create_token", ip=redis_prefix, principal=None, team=None)
        await workers[1].hit("create_token", ip=redis_prefix, principal=None, team=None)
        with pytest.raises(TooManyRequests):
            await workers[0].hit("create_token", ip=redis_prefix, principal=None, team=None)

    async def test_fails_open_when_the_storage_is_down(self) -> None:
        unreachable = create_storage("redis://127.0.0.1:1/0")
        limiter = RateLimiter(RatePolicy.from_document(DOCUMENT), unreachable)
        for _ in range(10):
            assert await limiter.hit("get_a", ip="1", principal="ada", team=None) == []


def test_header_fields_of_nothing() -> None:
    assert header_fields([]) == {}


class TestSignInThrottle:
    async def test_slows_an_account_down_and_a_success_clears_it(self) -> None:
        throttle = SignInThrottle(MemoryStorage(), failures=3, window=60)
        for _ in range(3):
            await throttle.check("ada@example.com")
            await throttle.failed("ada@example.com")
        with pytest.raises(TooManyRequests) as refused:
            await throttle.check("ada@example.com")
        assert 1 <= int(refused.value.headers["Retry-After"]) <= 60
        await throttle.check("bob@example.com")  # another account is not slowed
        await throttle.succeeded("ada@example.com")
        await throttle.check("ada@example.com")
