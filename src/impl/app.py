"""The composition root: settings -> engine -> services -> handlers -> the generated app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware

from generated import Implementation, build_app
from impl.accounts.handlers import AuthHandlers, UsersHandlers
from impl.accounts.service import AccountService
from impl.auth.authenticator import BearerAuthenticator
from impl.auth.principal import Principal
from impl.catalog.handlers import ProductsHandlers
from impl.catalog.service import ProductService
from impl.context import ContextFactory, RequestContext
from impl.health.handlers import HealthHandlers
from impl.kit.db import create_engine, create_sessionmaker
from impl.observability import Metrics, ObservabilityMiddleware
from impl.settings import Settings
from impl.teams.handlers import TeamsHandlers
from impl.teams.service import TeamService


def create_app(settings: Settings | None = None, *, validate_responses: bool = False) -> Starlette:
    """Build the Storefront ASGI app. The database must already be migrated."""
    settings = settings or Settings()
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    metrics = Metrics()
    accounts = AccountService(settings)
    implementation: Implementation[RequestContext, Principal] = Implementation(
        context=ContextFactory(sessionmaker),
        authenticator=BearerAuthenticator(accounts, sessionmaker),
        health=HealthHandlers(engine, settings.redis_url, metrics),
        users=UsersHandlers(accounts),
        auth=AuthHandlers(accounts),
        teams=TeamsHandlers(TeamService(settings)),
        products=ProductsHandlers(ProductService(settings)),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    return build_app(
        implementation,
        validate_responses=validate_responses,
        middleware=[Middleware(ObservabilityMiddleware, metrics=metrics)],
        lifespan=lifespan,
    )
