from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from generated import models
from generated.responses import health as r
from impl.context import RequestContext
from impl.kit.errors import ServiceUnavailable
from impl.observability.metrics import Exposition

CHECK_TIMEOUT_SECONDS = 2.0


class HealthHandlers:
    def __init__(self, engine: AsyncEngine, redis_url: str | None, metrics: Exposition) -> None:
        self._engine = engine
        self._redis_url = redis_url
        self._metrics = metrics

    async def get_health(self, ctx: RequestContext) -> r.GetHealth200:
        return r.GetHealth200(body=models.Health(status=models.Status.OK))

    async def get_readiness(self, ctx: RequestContext) -> r.GetReadiness200:
        checks = {
            "database": await self._check_database(),
            "redis": await self._check_redis(),
        }
        if models.CheckStatus.FAILED in checks.values():
            failed = ", ".join(name for name, status in checks.items() if status == "failed")
            raise ServiceUnavailable(
                f"Not ready: {failed} unreachable.",
                headers={"Retry-After": "5"},
                extensions={"checks": {k: v.value for k, v in checks.items()}},
            )
        return r.GetReadiness200(body=models.Readiness(status=models.Status1.OK, checks=checks))

    async def get_metrics(self, ctx: RequestContext) -> r.GetMetrics200:
        return r.GetMetrics200(body=self._metrics.render())

    async def _check_database(self) -> models.CheckStatus:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), self._engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception:  # any failure to answer means not ready
            return models.CheckStatus.FAILED
        return models.CheckStatus.OK

    async def _check_redis(self) -> models.CheckStatus:
        if not self._redis_url:
            return models.CheckStatus.SKIPPED
        from redis.asyncio import Redis

        client = Redis.from_url(self._redis_url)
        try:
            async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
                await client.ping()
        except Exception:  # any failure to answer means not ready
            return models.CheckStatus.FAILED
        finally:
            await client.aclose()
        return models.CheckStatus.OK
