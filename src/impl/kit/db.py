"""Engine and session construction, and the unit of work that owns every commit."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import URL, event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from impl.kit.errors import AppError
from impl.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option and session info key marking a read-only unit of work.
READ_ONLY = "storefront_read_only"


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the application's engine for `settings.database_url`.

    PostgreSQL gets a fixed-size pool (`max_overflow=0`): overflow connections are opened and
    closed per checkout under load, which costs more than waiting for a pooled one. SQLite
    gets foreign keys, WAL, a busy timeout and real transactions (see `sqlite_transactions`).
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return create_async_engine(
            url, pool_size=settings.db_pool_size, max_overflow=0, pool_pre_ping=False
        )

    ensure_sqlite_directory(url)
    pool_args: dict[str, Any] = {}
    if not is_sqlite_memory(url):
        pool_args = {"pool_size": settings.db_pool_size, "max_overflow": 0}
    engine = create_async_engine(url, **pool_args)
    sqlite_transactions(engine, begin="BEGIN IMMEDIATE")

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL never corrupts; a power cut may lose the last commits, not the file.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    return engine


def sqlite_transactions(engine: AsyncEngine, *, begin: str = "BEGIN") -> None:
    """Make SQLAlchemy, not the sqlite3 driver, open SQLite transactions.

    The driver's legacy mode never emits BEGIN before SELECT, DDL or SAVEPOINT, so a released
    savepoint would commit on its own and a rollback would not undo it. `BEGIN IMMEDIATE`
    takes the write lock up front: a deferred transaction that reads and then writes fails
    at once with SQLITE_BUSY if another writer committed in between, whatever the timeout.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _driver_autocommit(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        # A read-only unit of work takes no write lock: a deferred transaction reads one
        # consistent snapshot (WAL) while writers go on.
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else begin)


def is_sqlite_memory(url: URL) -> bool:
    """True for an in-memory SQLite URL, where each connection would see its own database."""
    return url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"


def ensure_sqlite_directory(url: URL) -> None:
    """Create the folder of a SQLite database file, so a fresh checkout can start."""
    if url.get_backend_name() != "sqlite" or is_sqlite_memory(url) or url.query.get("uri"):
        return
    assert url.database is not None
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory; objects stay readable after commit so handlers can serialise them."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_only_sessionmaker(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """Sessions on the same engine and pool for units of work that only read.

    On PostgreSQL their connections run in autocommit: no BEGIN and no COMMIT round trip,
    each statement reads its own committed snapshot. On SQLite they open a deferred
    transaction instead of `BEGIN IMMEDIATE`, so readers never wait for the write lock.
    Either way a flush is refused (see `_refuse_writes`): nothing a read-only session
    holds can reach the database.
    """
    engine = sessionmaker.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return async_sessionmaker(
        engine.execution_options(**options), expire_on_commit=False, info={READ_ONLY: True}
    )


@event.listens_for(Session, "before_flush")
def _refuse_writes(session: Session, _context: object, _instances: object) -> None:
    if session.info.get(READ_ONLY):
        raise RuntimeError("a read-only unit of work cannot write; use a read-write one")


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit if the block succeeds, roll back if it raises anything.

    This is the only place in the application that commits, so everything a request does
    (or a job, or the seed) is atomic. The one exception is an `AppError` that
    `keeps_changes`: a refusal whose side effects are the point (see `AppError`).
    """
    async with sessionmaker() as session:
        try:
            yield session
        except AppError as error:
            await (session.commit() if error.keeps_changes else session.rollback())
            raise
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


def is_unique_violation(
    error: IntegrityError, *, constraint: str, table: str, columns: Sequence[str]
) -> bool:
    """True when `error` is a violation of the unique constraint or index `constraint`.

    PostgreSQL names the constraint in its message; SQLite names the table's columns instead.
    """
    message = str(error.orig)
    if f'"{constraint}"' in message:
        return True
    sqlite_target = ", ".join(f"{table}.{column}" for column in columns)
    return message.rstrip().endswith(f"UNIQUE constraint failed: {sqlite_target}")
