"""Rate limits, declared in the contract and counted with the `limits` library.

The document's `x-rate-limit` is the default of every operation; an operation's own
`x-rate-limit` replaces it (one limit or a list of them), and `x-rate-limit: false` exempts
it. A limit is `{limit: N, window: SECONDS, key: ip | principal | team}`:

- `ip`: the client's address;
- `principal`: the caller's account (the client's address for anonymous calls);
- `team`: the path's team, whoever calls.

Operations under the default share one budget per key; an operation's own limits count its
calls only. Counts live in memory (per process) or, with `REDIS_URL`, in Redis, so a limit
is global across workers and hosts. The sliding-window-counter strategy keeps one or two
counters per key whatever the limit (a moving window keeps one entry per request).

A request over a limit is refused with 429 before its handler runs; limited operations'
responses carry the IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers):
`RateLimit-Policy: "name";q=LIMIT;w=WINDOW` and `RateLimit: "name";r=REMAINING;t=SECONDS`.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from impl.kit.errors import TooManyRequests
from specfirst.document import Document

logger = logging.getLogger(__name__)

KEYS = ("ip", "principal", "team")
Key = Literal["ip", "principal", "team"]
# Where the request's counts wait for the response (`RateLimitHeaders`).
SCOPE_KEY = "storefront.rate_limit"
# Redis calls of the limiter give up this soon: a slow Redis must not slow every request.
REDIS_TIMEOUT_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit: `limit` calls per `window` seconds, counted per `key`, in `budget`."""

    name: str
    budget: str
    limit: int
    window: int
    key: Key

    @property
    def item(self) -> RateLimitItem:
        return RateLimitItemPerSecond(self.limit, self.window, namespace=self.budget)


@dataclass(frozen=True, slots=True)
class Counted:
    """A limit after this request: what the RateLimit header fields say."""

    limit: Limit
    remaining: int
    reset_seconds: int


class RatePolicy:
    """Every operation's limits, by operationId, read from the contract."""

    def __init__(self, limits: Mapping[str, Sequence[Limit]]) -> None:
        self._limits = {operation: tuple(items) for operation, items in limits.items()}

    @classmethod
    def from_document(cls, document: Mapping[str, Any], *, scale: float = 1.0) -> RatePolicy:
        """Read the limits; a malformed one is a contract bug, so it fails at start-up.
        `scale` multiplies every limit (a test environment's clients are many per address)."""
        default = parse_limits(document.get("x-rate-limit"), "default", "#/x-rate-limit", scale)
        found: dict[str, Sequence[Limit]] = {}
        for op in Document(document).operations():
            operation = op.operation
            if "operationId" not in operation:
                continue
            operation_id = operation["operationId"]
            if "x-rate-limit" in operation:
                where = f"{op.method.upper()} {op.path} x-rate-limit"
                found[operation_id] = parse_limits(
                    operation["x-rate-limit"], operation_id, where, scale
                )
            else:
                found[operation_id] = default
        return cls(found)

    @classmethod
    def from_json(cls, text: str, *, scale: float = 1.0) -> RatePolicy:
        return cls.from_document(json.loads(text), scale=scale)

    def limits(self, operation_id: str) -> tuple[Limit, ...]:
        return self._limits.get(operation_id, ())


def parse_limits(
    declared: object, budget: str, where: str, scale: float = 1.0
) -> tuple[Limit, ...]:
    """The limits an `x-rate-limit` value declares (none for absent or `false`); a
    `ValueError` naming `where` if it is malformed. `just lint-spec` reads them with this too."""
    if declared is None or declared is False:
        return ()
    entries = declared if isinstance(declared, list) else [declared]
    limits = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"limit", "window", "key"}:
            raise ValueError(f"{where}: each limit is {{limit, window, key}}, got {entry!r}")
        limit, window, key = entry["limit"], entry["window"], entry["key"]
        if not (isinstance(limit, int) and limit > 0 and isinstance(window, int) and window > 0):
            raise ValueError(f"{where}: limit and window must be positive integers")
        if key not in KEYS:
            raise ValueError(f"{where}: key must be one of {', '.join(KEYS)}")
        name = f"{budget}-{key}" if len(entries) > 1 or budget == "default" else budget
        limits.append(Limit(name, budget, max(1, math.ceil(limit * scale)), window, key))
    return tuple(limits)


def create_storage(redis_url: str | None, *, prefix: str = "storefront:ratelimit") -> Storage:
    """Memory (one process) without Redis; Redis, shared by every worker, with it."""
    if not redis_url:
        return MemoryStorage()
    return RedisStorage(
        redis_url if redis_url.startswith("async+") else f"async+{redis_url}",
        implementation="redispy",
        key_prefix=prefix,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
    )


class RateLimiter:
    """Counts a request against its operation's limits; raises `TooManyRequests` past one.

    If the storage cannot be reached (Redis down), the request is let through and a warning
    logged: a limit fails open. It protects capacity, and the service's own guards (the
    database, argon2's cost, per-account sign-in throttling) still hold, while failing
    closed would turn a Redis outage into a full outage.
    """

    def __init__(self, policy: RatePolicy, storage: Storage) -> None:
        self._policy = policy
        self._storage = storage
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    async def hit(
        self, operation_id: str, *, ip: str, principal: str | None, team: str | None
    ) -> list[Counted]:
        """Count this request; the counts after it, for the response's header fields."""
        limits = self._policy.limits(operation_id)
        if not limits:
            return []
        identities = {"ip": ip, "principal": principal or f"ip:{ip}", "team": team}
        counted = []
        for limit in limits:
            identity = identities[limit.key]
            if identity is None:  # a team key on an operation without a team: not counted
                continue
            try:
                allowed = await self._strategy.hit(limit.item, limit.key, identity)
                stats = await self._strategy.get_window_stats(limit.item, limit.key, identity)
            except Exception as error:  # the storage is down or slow: fail open
                logger.warning("rate limit not counted (%s): %r", limit.name, error)
                continue
            reset = max(0, math.ceil(stats.reset_time - time.time()))
            result = Counted(limit, stats.remaining, reset)
            if not allowed:
                raise TooManyRequests(
                    f"Too many requests: at most {limit.limit} per {limit.window} s "
                    f"per {limit.key}; try again in {max(1, reset)} s.",
                    headers={"Retry-After": str(max(1, reset)), **header_fields([result])},
                )
            counted.append(result)
        return counted


def header_fields(counted: Sequence[Counted]) -> dict[str, str]:
    """The IETF RateLimit-Policy and RateLimit fields of `counted`."""
    if not counted:
        return {}
    return {
        "RateLimit-Policy": ", ".join(
            f'"{c.limit.name}";q={c.limit.limit};w={c.limit.window}' for c in counted
        ),
        "RateLimit": ", ".join(
            f'"{c.limit.name}";r={c.remaining};t={c.reset_seconds}' for c in counted
        ),
    }


class RateLimitHeaders:
    """Adds the RateLimit fields of the request's counts (`SCOPE_KEY`) to its response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_fields(message: Message) -> None:
            if message["type"] == "http.response.start":
                counted = scope.get(SCOPE_KEY)
                if counted:
                    headers = list(message.get("headers", []))
                    names = {name.lower() for name, _ in headers}
                    for name, value in header_fields(counted).items():
                        if name.lower().encode() not in names:
                            headers.append((name.encode(), value.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_fields)


class SignInThrottle:
    """Failed password grants per account: past `failures` in `window` seconds, that
    account's sign-ins are refused (429) until the oldest failures age out of the window.

    Keyed by the normalised email whether or not an account has it, so a refusal tells
    nothing about which emails exist; a success clears the count. The owner is slowed, never
    locked out for longer than the window. Like the rate limits, it fails open.
    """

    def __init__(self, storage: Storage, *, failures: int = 10, window: int = 900) -> None:
        self._item = RateLimitItemPerSecond(failures, window, namespace="sign-in-failures")
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    async def check(self, email: str) -> None:
        """Raise `TooManyRequests` if `email` has failed too often of late."""
        try:
            if await self._strategy.test(self._item, email):
                return
            stats = await self._strategy.get_window_stats(self._item, email)
        except Exception as error:
            logger.warning("sign-in throttle not checked: %r", error)
            return
        wait = max(1, math.ceil(stats.reset_time - time.time()))
        raise TooManyRequests(
            f"Too many failed sign-ins for this account; try again in {wait} s.",
            headers={"Retry-After": str(wait)},
        )

    async def failed(self, email: str) -> None:
        try:
            await self._strategy.hit(self._item, email)
        except Exception as error:
            logger.warning("sign-in failure not counted: %r", error)

    async def succeeded(self, email: str) -> None:
        try:
            await self._strategy.clear(self._item, email)
        except Exception as error:
            logger.warning("sign-in failures not cleared: %r", error)
