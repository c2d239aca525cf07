"""Database fixtures for every suite (impl, api, contract).

Each database is migrated once per session with Alembic (so the migrations are tested on
every run), and emptied after each test. SQLite always runs; PostgreSQL runs too when
TEST_DATABASE_URL is set. Tests may commit (through `unit_of_work` or the app): isolation
comes from emptying tables, not from rolling back.

On SQLite every transaction starts with BEGIN IMMEDIATE (see impl.kit.db), so a test must
commit or close its own session before the code under test writes from another one.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import nats
import pytest
from nats.js.errors import NotFoundError
from redis.asyncio import Redis
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from impl.events.relay import JetStreamPublisher
from impl.kit.db import Unit, create_engine, create_sessionmaker
from impl.kit.migrate import create_migration_engine, downgrade, ensure_database, migrate
from impl.models import Base
from impl.settings import Settings, normalise_database_url

_CONNECT_TIMEOUT_SECONDS = 10


@dataclass(frozen=True, slots=True)
class Database:
    backend: str
    url: str
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]

    async def empty(self) -> None:
        """Delete every row, children before parents."""
        async with self.engine.begin() as connection:
            for table in reversed(Base.metadata.sorted_tables):
                await connection.execute(table.delete())


def _backends() -> list[pytest.ParameterSet]:
    backends = [pytest.param(None, id="sqlite")]
    if external := os.environ.get("TEST_DATABASE_URL"):
        url = make_url(normalise_database_url(external))
        # Under pytest-xdist each worker has a database of its own on the server (made on
        # first use): `test_gw0`, `test_gw1`, ...
        if worker := os.environ.get("PYTEST_XDIST_WORKER"):
            url = url.set(database=f"{url.database}_{worker}")
        rendered = url.render_as_string(hide_password=False)
        backends.append(pytest.param(rendered, id=url.get_backend_name()))
    return backends


# A failed session fixture is set up again for every test that asks for it: remember the
# failure so an unreachable server costs one timeout, not one per test.
_unreachable: dict[str, str] = {}


def _give_up(message: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def _prepare_external(url: str) -> None:
    """Check the server answers, then drop what an earlier, interrupted run may have left."""
    if url in _unreachable:
        _give_up(_unreachable[url])
    engine = create_migration_engine(url)
    try:
        async with asyncio.timeout(_CONNECT_TIMEOUT_SECONDS):
            if os.environ.get("PYTEST_XDIST_WORKER"):
                await ensure_database(url)
            connection = await engine.connect()
    except Exception as error:
        await engine.dispose()
        # repr() of a URL masks its password.
        _unreachable[url] = f"TEST_DATABASE_URL is unreachable ({make_url(url)!r}): {error!r}"
        _give_up(_unreachable[url])
    try:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        await connection.commit()
    finally:
        await connection.close()
        await engine.dispose()


async def _drop_version_table(url: str) -> None:
    engine = create_migration_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session", params=_backends())
async def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    external: str | None = request.param
    if external is None:
        path: Path = tmp_path_factory.mktemp("sqlite") / "storefront.db"
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = external
        await _prepare_external(url)
    backend = make_url(url).get_backend_name()
    await migrate(url)
    engine = create_engine(Settings(database_url=url, db_pool_size=5))
    try:
        yield Database(
            backend=backend, url=url, engine=engine, sessionmaker=create_sessionmaker(engine)
        )
    finally:
        await engine.dispose()
        if external is not None:
            # Leave the shared server as we found it.
            await downgrade(url)
            await _drop_version_table(url)


@pytest.fixture
async def sessionmaker(database: Database) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    try:
        yield database.sessionmaker
    finally:
        await database.empty()


@pytest.fixture
async def session(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session on a fresh connection; whatever it leaves uncommitted is rolled back."""
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def unit(session: AsyncSession) -> Unit:
    """A unit of work on the `session` fixture's connection and transaction."""
    return await Unit.of_session(session)


@pytest.fixture
def settings(database: Database) -> Settings:
    # No gc.freeze() per app: each would cost a full collection (tests/impl/kit/test_heap.py).
    return Settings(database_url=database.url, freeze_heap=False)


async def _reachable(url: str, what: str, probe: Callable[[str], Awaitable[None]]) -> str:
    """`url`, once `probe(url)` succeeded: else skipped (failed under CI), and remembered."""
    if url in _unreachable:
        _give_up(_unreachable[url])
    try:
        await probe(url)
    except Exception as error:
        _unreachable[url] = f"{what} at {url} is unreachable: {error!r}"
        _give_up(_unreachable[url])
    return url


async def _ping_redis(url: str) -> None:
    probe = Redis.from_url(url, socket_connect_timeout=_CONNECT_TIMEOUT_SECONDS)
    try:
        await probe.ping()
    finally:
        await probe.aclose()


async def _ask_jetstream(url: str) -> None:
    # One attempt: nats-py tries a server `max_reconnect_attempts` times before giving up.
    client = await nats.connect(
        url,
        connect_timeout=_CONNECT_TIMEOUT_SECONDS,
        allow_reconnect=False,
        max_reconnect_attempts=1,
    )
    try:
        await client.jetstream().account_info()
    finally:
        await client.close()


@pytest.fixture
async def redis_url() -> str:
    """TEST_REDIS_URL (default the local server), checked: skipped if down, failed under CI."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    return await _reachable(url, "Redis", _ping_redis)


@pytest.fixture
async def nats_url() -> str:
    """TEST_NATS_URL (default the local NATS server, with JetStream), checked: skipped if
    down, failed under CI."""
    url = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")
    return await _reachable(url, "NATS JetStream", _ask_jetstream)


@dataclass(frozen=True, slots=True)
class Stream:
    url: str
    name: str
    prefix: str

    def publisher(self) -> JetStreamPublisher:
        return JetStreamPublisher(self.url, stream=self.name, subject_prefix=self.prefix)


@pytest.fixture
async def stream(nats_url: str) -> AsyncIterator[Stream]:
    """A stream and subject prefix of this test's own (the server is shared), deleted after."""
    token = secrets.token_hex(6)
    made = Stream(nats_url, f"TEST_EVENTS_{token}", f"test-{token}.events")
    try:
        yield made
    finally:
        client = await nats.connect(nats_url)
        try:
            await client.jetstream().delete_stream(made.name)
        except NotFoundError:
            pass
        finally:
            await client.close()


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key prefix of this test's own (the server is shared); its keys are deleted after."""
    prefix = f"storefront-test-{secrets.token_hex(6)}"
    try:
        yield prefix
    finally:
        client = Redis.from_url(redis_url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}:*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    """A client of the test Redis that decodes responses to str."""
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()
