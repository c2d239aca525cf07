"""The composition root: settings -> engine -> services -> handlers -> the generated app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import TYPE_CHECKING

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.middleware import Middleware

from generated import Implementation, build_app
from generated.spec import OPENAPI_JSON
from impl.accounts.handlers import AuthHandlers, UsersHandlers
from impl.accounts.service import AccountService
from impl.admin.handlers import AdminHandlers
from impl.admin.service import AdminService, DeadLetterService
from impl.audit import recorder
from impl.audit.handlers import AuditHandlers
from impl.audit.service import AuditService
from impl.auth.access import AccessPolicy
from impl.auth.authenticator import BearerAuthenticator
from impl.auth.external import ExternalTokens
from impl.auth.jwks import JwksCache
from impl.auth.principal import TokenSubject
from impl.auth.tokens import TokenService
from impl.catalog.handlers import ProductsHandlers
from impl.catalog.repository import READ_IN_TEAM
from impl.catalog.service import ProductService
from impl.context import ContextFactory, ReadAhead, RequestContext
from impl.events.relay import EventBus, build_feed, build_relay
from impl.health.handlers import HealthHandlers
from impl.http_hygiene import install as install_http_hygiene
from impl.inventory.handlers import InventoryHandlers
from impl.inventory.service import InventoryService
from impl.jobs.runtime import JobRuntime
from impl.kit.db import create_engine, create_sessionmaker
from impl.kit.heap import frozen_heap
from impl.observability.metrics import Exposition, Metrics, process_exited
from impl.observability.middleware import ObservabilityMiddleware
from impl.observability.tracing import Tracing
from impl.orders.handlers import OrdersHandlers
from impl.orders.repository import PRODUCTS_IN_TEAM, PRODUCTS_IN_TEAM_POSTGRESQL
from impl.orders.service import OrderService
from impl.ratelimits import (
    RateLimiter,
    RateLimitHeaders,
    RatePolicy,
    SignInThrottle,
    create_storage,
)
from impl.settings import Settings
from impl.teams.handlers import MembersHandlers, TeamsHandlers
from impl.teams.members import MembershipService
from impl.teams.service import TeamService
from specfirst import Limits

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

# Reads made in the caller query's round trip (`impl.context.ReadAhead`), by operation.
READ_AHEAD = {
    "get_product": ReadAhead(
        READ_IN_TEAM, lambda args: {"product_id": args["product_id"], "team_id": args["team_id"]}
    ),
    "create_order": ReadAhead(
        PRODUCTS_IN_TEAM,
        lambda args: {"ids": [line.product_id for line in args["body"].lines]},
        postgresql=PRODUCTS_IN_TEAM_POSTGRESQL,
    ),
}


# Operations that answer without a unit of work, so they answer while the database is down:
# liveness must never touch a dependency, readiness checks them itself.
WITHOUT_DATABASE = frozenset({"get_health", "get_readiness", "get_metrics"})


# Failed password grants an account may have in 15 minutes before its sign-ins are refused.
SIGN_IN_FAILURES = 10


def app_from_environment() -> Starlette:
    """The app on settings read from the environment: what each `serve-prod` worker runs."""
    return create_app(Settings())


def _identity_provider(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> tuple[ExternalTokens, httpx.AsyncClient] | None:
    """The external OpenID Connect provider's verifier, and the client its keys are fetched
    with; None (nothing made, nothing fetched) without OIDC_ISSUER."""
    if settings.oidc_issuer is None:
        return None
    timeout = settings.oidc_fetch_timeout_seconds
    # Redirects are not followed: the keys come from the URL the operator (or the issuer's
    # discovery document) names, not from wherever that points.
    client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)
    jwks = JwksCache(
        client,
        issuer=settings.oidc_issuer,
        jwks_url=settings.oidc_jwks_url,
        ttl_seconds=settings.oidc_jwks_ttl_seconds,
        timeout_seconds=timeout,
    )
    return ExternalTokens(settings, jwks, sessionmaker), client


def create_app(
    settings: Settings | None = None,
    *,
    validate_responses: bool = False,
    span_exporter: SpanExporter | None = None,
) -> Starlette:
    """Build the Storefront ASGI app. The database must already be migrated.

    Tracing is on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, or `span_exporter` given.
    """
    settings = settings or Settings()
    recorder.install()
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    metrics = Metrics()
    metrics.watch_pool(engine)
    tracing = Tracing.from_settings(settings, span_exporter)
    limiter, throttle = None, None
    if settings.rate_limits_enabled:
        storage = create_storage(settings.redis_url, prefix=settings.rate_limit_redis_prefix)
        policy = RatePolicy.from_json(OPENAPI_JSON, scale=settings.rate_limit_scale)
        limiter = RateLimiter(policy, storage)
        throttle = SignInThrottle(
            storage, failures=max(1, round(SIGN_IN_FAILURES * settings.rate_limit_scale))
        )
    accounts = AccountService(settings, throttle=throttle)
    provider = _identity_provider(settings, sessionmaker)
    # The event log's consumers in this process subscribe here (`EventBus.subscribe`): fed by
    # the relay, or with NATS_URL by the stream (whichever instance relayed the event).
    events = EventBus()
    relay = build_relay(settings, sessionmaker, events) if settings.outbox_relay_enabled else None
    feed = build_feed(settings, events)
    # Without Redis this process runs the jobs too; with it, it only schedules them.
    jobs = JobRuntime(settings, sessionmaker, role="app")
    implementation: Implementation[RequestContext, TokenSubject] = Implementation(
        context=ContextFactory(
            sessionmaker,
            AccessPolicy.from_json(OPENAPI_JSON),
            read_ahead=READ_AHEAD,
            without_database=WITHOUT_DATABASE,
            limiter=limiter,
        ),
        authenticator=BearerAuthenticator(
            TokenService(settings), None if provider is None else provider[0]
        ),
        health=HealthHandlers(
            engine, settings.redis_url, Exposition(metrics, settings.prometheus_multiproc_dir)
        ),
        users=UsersHandlers(accounts),
        auth=AuthHandlers(accounts),
        admin=AdminHandlers(AdminService(settings), DeadLetterService(settings, jobs)),
        teams=TeamsHandlers(TeamService(settings)),
        members=MembersHandlers(MembershipService(settings)),
        products=ProductsHandlers(ProductService(settings)),
        inventory=InventoryHandlers(InventoryService(settings)),
        orders=OrdersHandlers(OrderService(settings)),
        audit=AuditHandlers(AuditService(settings)),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.jobs = jobs
        app.state.events, app.state.relay = events, relay
        if tracing is not None:
            tracing.instrument(engine)
        await jobs.start()
        if feed is not None:
            feed.start()
        if relay is not None:
            relay.start()
        try:
            with frozen_heap() if settings.freeze_heap else nullcontext():
                yield
        finally:
            if relay is not None:
                await relay.stop()
            if feed is not None:
                await feed.stop()
            await jobs.stop()
            if provider is not None:
                await provider[1].aclose()
            await engine.dispose()
            if tracing is not None:
                tracing.shutdown()
            process_exited(settings.prometheus_multiproc_dir)

    app = build_app(
        implementation,
        validate_responses=validate_responses,
        middleware=[
            Middleware(ObservabilityMiddleware, metrics=metrics, tracing=tracing),
            Middleware(RateLimitHeaders),
        ],
        lifespan=lifespan,
        limits=Limits(settings.max_body_bytes, request_timeout=settings.request_timeout_seconds),
    )
    return install_http_hygiene(app, settings, OPENAPI_JSON)
