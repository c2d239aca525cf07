"""Engine and session construction, and the unit of work that owns every commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg.exceptions
from sqlalchemy import URL, event, make_url
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    AsyncTransaction,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from impl.kit.errors import AppError, ServiceUnavailable
from impl.settings import Settings
from specfirst import ApiError

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 10_000
# Execution option and session info key marking a read-only unit of work.
READ_ONLY = "storefront_read_only"
# Session info key of the unit of work a unit's session belongs to (for ORM event listeners).
UNIT = "storefront_unit"


def create_engine(settings: Settings) -> AsyncEngine:
    """Build the application's engine for `settings.database_url`.

    PostgreSQL gets a fixed-size pool (`max_overflow=0`): overflow connections are opened and
    closed per checkout under load, which costs more than waiting for a pooled one. SQLite
    gets foreign keys, WAL, a busy timeout and real transactions (see `sqlite_transactions`).
    """
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return create_async_engine(
            url,
            pool_size=settings.db_pool_size,
            max_overflow=0,
            pool_pre_ping=False,
            # asyncpg waits 60 s by default: a request would hang on an unreachable server.
            connect_args={"timeout": settings.db_connect_timeout_seconds},
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


def read_only_engine(engine: AsyncEngine) -> AsyncEngine:
    """The same engine and pool, for units of work that only read.

    On PostgreSQL its connections run in autocommit: no BEGIN and no COMMIT round trip,
    each statement reads its own committed snapshot. On SQLite they open a deferred
    transaction instead of `BEGIN IMMEDIATE`, so readers never wait for the write lock.
    """
    options: dict[str, Any] = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return engine.execution_options(**options)


def read_only_sessionmaker(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> async_sessionmaker[AsyncSession]:
    """Sessions on `read_only_engine` whose flushes are refused (see `_refuse_writes`):
    nothing a read-only session holds can reach the database."""
    engine = sessionmaker.kw["bind"]
    assert isinstance(engine, AsyncEngine)
    return async_sessionmaker(
        read_only_engine(engine), expire_on_commit=False, info={READ_ONLY: True}
    )


@event.listens_for(Session, "before_flush")
def _refuse_writes(session: Session, _context: object, _instances: object) -> None:
    if session.info.get(READ_ONLY):
        raise RuntimeError("a read-only unit of work cannot write; use a read-write one")


@asynccontextmanager
async def unit_of_work(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Yield the session of a unit of work (`Units.open`) for code that needs only the ORM:
    committed if the block succeeds, rolled back if it raises anything."""
    read_only = bool(sessionmaker.kw.get("info", {}).get(READ_ONLY))
    async with Units(sessionmaker).open(read_only=read_only) as unit:
        yield unit.session


@dataclass(slots=True)
class Unit:
    """A request's unit of work: one pooled connection in one transaction.

    Hot paths run prebuilt statements on the unit's driver connection (see `impl.kit.query`);
    everything else uses `session`, an ORM session on the same connection and transaction,
    made on first use, so a request that never touches the ORM never pays for a session.

    On PostgreSQL a unit starts with only a pooled driver connection: no SQLAlchemy
    `Connection`, no transaction, so a plain read costs the driver's round trip and little
    else, and a unit whose statements begin no transaction ends without any I/O.
    - Read-only: in autocommit. If it needs the ORM, that connection goes back to the pool
      and the session checks out one of its own, also in autocommit (each statement reads
      its own committed snapshot either way).
    - Read-write: `impl.kit.query` begins the driver's transaction with the first statement
      that writes or locks. If it needs the ORM, a SQLAlchemy `Connection` is put on the
      same driver connection (`_attach`), in the transaction the driver may have begun.
    Opening and closing a SQLAlchemy connection and its transaction took four greenlet
    switches, 0.055 ms of CPU per read-write unit.
    """

    read_only: bool
    dialect: Dialect
    _sessionmaker: async_sessionmaker[AsyncSession]
    # Opened with its transaction by `Units.open` (SQLite) or the session's owner
    # (`of_session`); or, with no `_transaction`, put on the driver connection by `_attach`:
    # then the unit commits, rolls back and closes it itself.
    _connection: AsyncConnection | None = None
    _transaction: AsyncTransaction | None = None
    # A unit on PostgreSQL: its pooled driver connection, and the engine its session (read
    # only) or its SQLAlchemy connection (read-write, `_attach`) would use.
    _raw: PoolProxiedConnection | None = None
    _engine: AsyncEngine | None = None
    _session: AsyncSession | None = field(default=None)
    # Per-unit state of the code that uses it (the audit recorder keeps its queue here).
    info: dict[str, Any] = field(default_factory=dict)
    _before_commit: list[Callable[[], Awaitable[None]]] | None = field(default_factory=list)
    _after_commit: list[Callable[[], Awaitable[None]]] | None = field(default_factory=list)
    # A statement ran alone as the unit's only write (`impl.kit.query.Query`): no other may.
    _sealed: bool = False

    @classmethod
    async def of_session(cls, session: AsyncSession) -> Unit:
        """A read-write unit on `session`'s connection and transaction, for code that holds
        a session already (scripts, tests); committing stays with the session's owner."""
        connection = await session.connection()
        transaction = connection.get_transaction()
        assert transaction is not None
        unit = cls(False, connection.dialect, async_sessionmaker(), connection, transaction)
        unit._session = session
        # The session's owner commits: nothing would run them.
        unit._before_commit = unit._after_commit = None
        return unit

    @property
    def connection(self) -> AsyncConnection:
        """The unit's SQLAlchemy connection; a read-only unit on PostgreSQL has none."""
        if self._connection is None and self._raw is not None and not self.read_only:
            return self._attach()
        if self._connection is None:
            raise RuntimeError(
                "a read-only unit on PostgreSQL has no SQLAlchemy connection: run statements "
                "with impl.kit.query or through its session"
            )
        return self._connection

    def may_write_alone(self) -> bool:
        """True if a statement that is atomic by itself may be all this unit writes: nothing
        is waiting to be written with the commit (audit events, the session's changes)."""
        session = self._session
        pending = session is not None and bool(session.new or session.dirty or session.deleted)
        return not self._before_commit and not pending

    def seal(self) -> None:
        """A statement ran alone, committed by itself: refuse any later write."""
        self._sealed = True

    def check_writable(self) -> None:
        if self._sealed:
            raise RuntimeError(
                "this unit's only write ran on its own (Query alone=True): it cannot write again"
            )

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._sealed:
                self.check_writable()
            info: dict[str, Any] = {READ_ONLY: True} if self.read_only else {}
            info[UNIT] = self
            if self._connection is None and self._raw is not None and not self.read_only:
                self._attach()
            if self._connection is not None:
                # The session joins the unit's transaction: its commit flushes and leaves the
                # transaction to the unit; its rollback rolls the transaction back.
                self._session = self._sessionmaker(bind=self._connection, info=info)
            else:
                # No transaction to share: give the driver connection back first, so the
                # unit never holds two connections (the pool gate counts one per unit).
                self._release_raw()
                self._session = self._sessionmaker(bind=self._engine, info=info)
        return self._session

    def _attach(self) -> AsyncConnection:
        """A read-write unit on its driver connection: SQLAlchemy's connection on it, in a
        transaction (no I/O: the driver begins it with the first statement that needs it,
        or has begun it already), which the unit commits or rolls back."""
        raw, engine = self._raw, self._engine
        assert raw is not None
        assert engine is not None
        self._raw = None
        connection = Connection(engine.sync_engine, raw)
        connection.begin()
        self._connection = AsyncConnection(engine, connection)
        return self._connection

    async def dbapi_connection(self) -> Any:
        """The unit's DBAPI connection (SQLAlchemy's adapter of the driver), checked out."""
        if self._raw is not None:
            return self._raw.dbapi_connection
        connection = self._connection
        if connection is None:  # a read-only unit whose session holds the connection now
            connection = await self.session.connection()
        return connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]

    async def invalidate(self, error: BaseException) -> None:
        """Drop the unit's connection from the pool: it broke (see `impl.kit.query`)."""
        if self._raw is not None:
            raw, self._raw = self._raw, None
            await greenlet_spawn(raw.invalidate, error)  # closes it and checks the record in
        elif self._connection is not None:
            await self._connection.invalidate(error)
        elif self._session is not None:
            await (await self._session.connection()).invalidate(error)

    def before_commit(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` when the unit commits, before the session's last flush (also when an
        `AppError` that keeps its changes commits); not if it rolls back."""
        if self._before_commit is None:
            raise RuntimeError("a unit joined to a session does not commit; write at once")
        self.check_writable()
        self._before_commit.append(action)

    @property
    def commits(self) -> bool:
        """Whether the unit commits itself (a unit joined to a session does not)."""
        return self._after_commit is not None

    def after_commit(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run `action` once the unit has committed and let its connection go; not if it
        rolls back. What `action` raises is logged, not raised: the commit stands."""
        if self._after_commit is None:
            raise RuntimeError("a unit joined to a session does not commit; act at once")
        self._after_commit.append(action)

    async def _run_after_commit(self) -> None:
        for action in self._after_commit or ():
            try:
                await action()
            except Exception:
                logger.exception("an action after the commit failed: %r", action)

    async def autoflush(self) -> None:
        """Flush the session's pending changes, as the ORM does before its own queries, so
        a statement run on the connection sees them."""
        session = self._session
        if session is not None and (session.new or session.dirty or session.deleted):
            await session.flush()

    def _release_raw(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            # Not in a transaction (see `_end_driver_transaction`): checking in does no I/O.
            raw.close()

    async def _end_driver_transaction(self, *, commit: bool) -> None:
        """A read-write unit still on its driver connection: end the transaction a statement
        began on it, if any."""
        if self._raw is not None and _in_transaction(self._raw):
            adapter = self._raw.dbapi_connection
            try:
                await greenlet_spawn(adapter.commit if commit else adapter.rollback)  # type: ignore[union-attr]
            except BaseException as error:
                # The transaction's outcome, and the connection, are in doubt: drop it, as
                # SQLAlchemy drops a connection that fails it.
                await self.invalidate(error)
                raise

    async def _commit(self) -> None:
        for action in self._before_commit or ():
            await action()
        if self._session is not None:
            await self._session.commit()
        if self._transaction is not None:
            await self._transaction.commit()
        elif self._connection is not None:  # attached (`_attach`)
            await self._connection.commit()
        await self._end_driver_transaction(commit=True)

    async def _rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()
        if self._transaction is not None and self._transaction.is_active:
            await self._transaction.rollback()
        elif self._transaction is None and self._connection is not None:  # attached
            await self._connection.rollback()
        await self._end_driver_transaction(commit=False)

    async def _close(self) -> None:
        try:
            if self._session is not None:
                await self._session.close()
        finally:
            if self._transaction is None and self._connection is not None:  # attached
                await self._connection.close()  # checks the driver connection back in
            elif self._raw is not None and _in_transaction(self._raw):
                # Its rollback failed: the pool's reset ends it, in SQLAlchemy's greenlet.
                raw, self._raw = self._raw, None
                await greenlet_spawn(raw.close)
            self._release_raw()


def _in_transaction(raw: PoolProxiedConnection) -> bool:
    """Whether a statement began a transaction on this driver connection (`impl.kit.query`:
    SQLAlchemy's asyncpg adapter keeps the driver's transaction object)."""
    return getattr(raw.dbapi_connection, "_transaction", None) is not None


class Units:
    """Opens units of work on one engine: read-write ones, and read-only ones that take no
    transaction on PostgreSQL (`read_only_engine`)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        engine = sessionmaker.kw["bind"]
        assert isinstance(engine, AsyncEngine)
        self._engines = {False: engine, True: read_only_engine(engine)}
        self._sessionmaker = sessionmaker
        # Units start on a bare driver connection where `impl.kit.query` can use it.
        self._driver_reads = (
            engine.dialect.name == "postgresql" and engine.dialect.driver == "asyncpg"
        )
        size, timeout = getattr(engine.pool, "size", None), getattr(engine.pool, "timeout", None)
        self._size: int | None = size() if callable(size) else None
        self._timeout: float | None = float(timeout()) if callable(timeout) else None
        self._gate: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def _slots(self) -> asyncio.Semaphore | None:
        """A first-come, first-served gate in front of a fixed-size pool.

        The pool itself lets a request that arrives as a connection is returned take it ahead
        of those already waiting, so under load a few wait very long (p99 at 64 connections
        30x the median). asyncio's semaphore serves waiters in order. One per event loop.
        """
        if self._size is None:
            return None
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate[0] is not loop:
            self._gate = (loop, asyncio.Semaphore(self._size))
        return self._gate[1]

    @asynccontextmanager
    async def open(self, *, read_only: bool) -> AsyncIterator[Unit]:
        """Yield a unit; commit if the block succeeds, roll back if it raises anything.

        This is the only place in the application that commits, so everything a request
        does (or a job, or the seed) is atomic. The one exception is an `AppError` that
        `keeps_changes`: a refusal whose side effects are the point (see `AppError`).
        """
        slots = self._slots()
        if slots is not None:
            if slots.locked():
                # As long as the pool itself would wait for a connection before giving up
                # (`asyncio.timeout`: `wait_for` would wrap the wait in a task of its own).
                async with asyncio.timeout(self._timeout):
                    await slots.acquire()
            else:
                await slots.acquire()  # free: taken at once, nobody is waiting
        try:
            engine = self._engines[read_only]
            if self._driver_reads:
                unit = Unit(
                    read_only,
                    engine.dialect,
                    self._sessionmaker,
                    _raw=await engine.raw_connection(),
                    _engine=engine,
                )
                async with self._finishing(unit):
                    yield unit
            else:
                async with engine.connect() as connection:
                    unit = Unit(
                        read_only,
                        connection.dialect,
                        self._sessionmaker,
                        connection,
                        await connection.begin(),
                    )
                    async with self._finishing(unit):
                        yield unit
        finally:
            if slots is not None:
                slots.release()

    @asynccontextmanager
    async def _finishing(self, unit: Unit) -> AsyncIterator[None]:
        committed = False
        try:
            yield
        except AppError as error:
            if error.keeps_changes:
                await unit._commit()
                committed = True
            else:
                await unit._rollback()
            raise
        except BaseException:
            await unit._rollback()
            raise
        else:
            await unit._commit()
            committed = True
        finally:
            await unit._close()
            if committed:
                await unit._run_after_commit()


# What the database (or the way to it) answers when it is down, restarting or overloaded,
# as opposed to refusing a statement. Matched anywhere in an error's chain: SQLAlchemy wraps
# the driver's errors, and statements sent to asyncpg directly raise its own.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, timed out (the pool's wait too)
    asyncpg.exceptions.PostgresConnectionError,  # class 08: connection gone or refused
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, no disk
    # The driver's protocol state broke with its connection (seen while the server stopped
    # mid-statement): `impl.kit.query` drops that connection from the pool.
    asyncpg.exceptions.InternalClientError,
)
_UNAVAILABLE_MESSAGES = (
    "connection is closed",  # asyncpg, on a connection the server dropped
    "connection was closed",
    "database is locked",  # SQLite, after the busy timeout
    "unable to open database file",
)


def is_database_unavailable(error: BaseException) -> bool:
    """True when `error` means the database cannot serve now (down, restarting, its pool
    exhausted), not that a statement was wrong: worth a 503 and a retry, not a 500."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if isinstance(current, _UNAVAILABLE):
            return True
        if any(message in str(current) for message in _UNAVAILABLE_MESSAGES):
            return True
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException) and id(orig) not in seen:
            current = orig
        else:
            current = current.__cause__ or current.__context__
    return False


# What a 503 for an unreachable database tells clients to wait before trying again.
DATABASE_RETRY_AFTER_SECONDS = 2


@contextmanager
def unavailable_as_503() -> Iterator[None]:
    """Turn an error meaning the database cannot serve now (`is_database_unavailable`) into
    a 503 `ServiceUnavailable` with `Retry-After`; anything else, a bug included, passes."""
    try:
        yield
    except ApiError:
        raise
    except Exception as error:
        if not is_database_unavailable(error):
            raise
        # Down, restarting or saturated: the client may retry (the unit was rolled back,
        # and writes that must not apply twice are keyed); a bug is still a 500.
        logger.warning("database unavailable: %r", error)
        raise ServiceUnavailable(
            "The database is unavailable; try again shortly.",
            headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)},
        ) from error


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
