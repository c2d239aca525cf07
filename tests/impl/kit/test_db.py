from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg.exceptions
import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import QueuePool

from impl.kit.db import (
    Units,
    create_engine,
    create_sessionmaker,
    is_database_unavailable,
    is_unique_violation,
    read_only_sessionmaker,
    unit_of_work,
)
from impl.models import User
from impl.settings import Settings
from tests.factories import create_user


async def _count_users(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


class TestUnitOfWork:
    async def test_commits_on_success(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        async with unit_of_work(sessionmaker) as session:
            await create_user(session)
        assert await _count_users(sessionmaker) == 1

    async def test_rolls_back_on_error(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        async def fail() -> None:
            async with unit_of_work(sessionmaker) as session:
                await create_user(session)
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await fail()
        assert await _count_users(sessionmaker) == 0

    async def test_released_savepoint_rolls_back_with_the_transaction(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        # The sqlite3 driver, left alone, would commit a savepoint opened before any BEGIN.
        async def fail() -> None:
            async with unit_of_work(sessionmaker) as session:
                async with session.begin_nested():
                    await create_user(session)
                raise RuntimeError

        with pytest.raises(RuntimeError):
            await fail()
        assert await _count_users(sessionmaker) == 0

    async def test_objects_readable_after_commit(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        async with unit_of_work(sessionmaker) as session:
            user = await create_user(session, email="after@example.com")
        assert user.email == "after@example.com"


async def test_is_unique_violation(session: AsyncSession) -> None:
    await create_user(session, email="same@example.com")
    with pytest.raises(IntegrityError) as caught:
        async with session.begin_nested():
            await create_user(session, email="same@example.com")
    error = caught.value
    assert is_unique_violation(error, constraint="uq_users_email", table="users", columns=["email"])
    assert not is_unique_violation(
        error, constraint="uq_users_username", table="users", columns=["username"]
    )


async def test_sqlite_engine(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'app.db'}"
    engine = create_engine(Settings(database_url=url))
    try:
        async with create_sessionmaker(engine)() as session:
            pragmas = [
                (await session.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("foreign_keys", "journal_mode", "busy_timeout")
            ]
        assert pragmas == [1, "wal", 10_000]
        assert (tmp_path / "nested" / "dir" / "app.db").exists()
    finally:
        await engine.dispose()


async def test_postgresql_pool_is_fixed() -> None:
    # Building an engine does not connect, so no server is needed.
    url = "postgres://user@db.invalid/storefront"
    engine = create_engine(Settings(database_url=url, db_pool_size=3))
    try:
        assert engine.url.drivername == "postgresql+asyncpg"
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool.size(), pool._max_overflow, pool._pre_ping) == (3, 0, False)
    finally:
        await engine.dispose()


async def test_read_only_unit_of_work_refuses_writes(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    readers = read_only_sessionmaker(sessionmaker)
    async with unit_of_work(readers) as session:
        session.add(User(email="ro@example.com", username="ro", password_hash="x"))
        with pytest.raises(RuntimeError, match="read-only"):
            await session.flush()
        session.expunge_all()
    async with unit_of_work(readers) as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_units_are_handed_out_first_come_first_served(tmp_path: Path) -> None:
    # SQLAlchemy's async pool hands a connection that is just back to whoever asks before
    # the waiter it woke has run: that waiter then queues again at the end. Under load a few
    # requests waited very long (get product's p99 at 64 connections was 30 times its median
    # in `just bench`). Here a late request is made ready exactly as the connection comes
    # back, ahead of the three that were already waiting: it must still be served last.
    url = f"sqlite+aiosqlite:///{tmp_path / 'fifo.db'}"
    engine = create_engine(Settings(database_url=url, db_pool_size=1))
    units = Units(create_sessionmaker(engine))
    served: list[str] = []
    returned = asyncio.Event()
    sqlalchemy_event.listen(engine.sync_engine.pool, "checkin", lambda *_: returned.set())

    async def take(name: str) -> None:
        async with units.open(read_only=True):
            served.append(name)

    async def late() -> None:
        await returned.wait()
        await take("late")

    try:
        async with units.open(read_only=True):
            waiting = [asyncio.create_task(take(f"waiter {n}")) for n in range(3)]
            latecomer = asyncio.create_task(late())
            await asyncio.sleep(0.05)  # the three are queued behind the held connection
        await asyncio.gather(*waiting, latecomer)
    finally:
        await engine.dispose()
    assert served == ["waiter 0", "waiter 1", "waiter 2", "late"]


async def test_a_unit_waits_as_long_as_the_pool_would(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'timeout.db'}"
    engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    units = Units(create_sessionmaker(engine))
    try:
        async with units.open(read_only=True):
            started = asyncio.get_running_loop().time()
            with pytest.raises(TimeoutError):
                async with units.open(read_only=True):
                    pass
            assert asyncio.get_running_loop().time() - started >= 0.2
        async with units.open(read_only=True) as unit:  # the slot was given back
            assert await unit.session.scalar(select(func.count())) == 1
    finally:
        await engine.dispose()


def _wrapped(error: BaseException) -> BaseException:
    try:
        try:
            raise error
        except BaseException as cause:
            raise RuntimeError("while running a statement") from cause
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "unavailable"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (_wrapped(ConnectionResetError()), True),
        (TimeoutError(), True),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), True),
        (asyncpg.exceptions.CannotConnectNowError("the database system is starting up"), True),
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), True),
        (asyncpg.exceptions.TooManyConnectionsError("too many clients"), True),
        (DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True), True),
        (OperationalError("BEGIN", {}, Exception("database is locked")), True),
        (asyncpg.exceptions.UniqueViolationError("duplicate key"), False),
        (IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")), False),
        (_wrapped(ValueError("a bug")), False),
        (KeyError("a bug"), False),
    ],
)
def test_database_unavailable(error: BaseException, unavailable: bool) -> None:
    assert is_database_unavailable(error) is unavailable
