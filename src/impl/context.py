"""Per-request context handed to every handler: one unit of work, the caller, the request id."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from generated.runtime import RequestInfo, request_id_var
from impl.auth.principal import Principal
from impl.kit.db import unit_of_work
from impl.kit.errors import Unauthorized


@dataclass(frozen=True, slots=True)
class RequestContext:
    session: AsyncSession
    principal: Principal | None
    request_id: str

    def caller(self) -> Principal:
        """The authenticated principal; operations with security always have one."""
        if self.principal is None:
            raise Unauthorized("Valid credentials are required.")
        return self.principal


class ContextFactory:
    """One transaction per request: committed when the handler returns, rolled back on error."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    def __call__(self, info: RequestInfo[Principal]) -> AbstractAsyncContextManager[RequestContext]:
        return self._open(info.principal)

    @asynccontextmanager
    async def _open(self, principal: Principal | None) -> AsyncIterator[RequestContext]:
        async with unit_of_work(self._sessionmaker) as session:
            yield RequestContext(session, principal, request_id_var.get())
