"""Turns the bearer token of a request into a Principal, for the generated routes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from generated.runtime import Credentials
from impl.accounts.service import AccountService
from impl.auth.principal import Principal
from impl.kit.db import unit_of_work


class BearerAuthenticator:
    def __init__(
        self, accounts: AccountService, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        self._accounts = accounts
        self._sessionmaker = sessionmaker

    async def authenticate(self, credentials: Credentials, scopes: Sequence[str]) -> Principal:
        # The user must still exist and be active, so a deactivated account stops at once.
        async with unit_of_work(self._sessionmaker) as session:
            return await self._accounts.authenticate(session, credentials.value)
