from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from impl.kit.migrate import (
    check,
    create_migration_engine,
    downgrade,
    ensure_database,
    migrate,
    server_admin,
)
from impl.models import Base
from tests.conftest import Database

TABLES = {table.name for table in Base.metadata.sorted_tables}


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    return set(names) - {"alembic_version"}


async def test_fresh_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new' / 'storefront.db'}"
    await migrate(url)
    await migrate(url)  # idempotent: already at head
    await check(url)
    engine = create_migration_engine(url)
    try:
        assert await _tables(engine) == TABLES
    finally:
        await engine.dispose()


async def test_down_and_up_again(database: Database) -> None:
    engine = create_migration_engine(database.url)
    try:
        await downgrade(database.url)
        assert await _tables(engine) == set()
        await migrate(database.url)
        assert await _tables(engine) == TABLES
        await check(database.url)
    finally:
        await engine.dispose()
        # Pooled connections may hold statements prepared against the dropped tables.
        await database.engine.dispose()


async def test_ensure_database_creates_once(database: Database) -> None:
    if not database.url.startswith("postgresql"):
        pytest.skip("creates a database on the PostgreSQL server; SQLite files need none")
    probe = make_url(database.url).set(database="storefront_probe").render_as_string(False)
    await server_admin(probe, 'DROP DATABASE IF EXISTS "storefront_probe"')
    try:
        await ensure_database(probe)
        await ensure_database(probe)  # already there: nothing to do, no error
        engine = create_async_engine(probe)
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT current_database()")) == "storefront_probe"
        await engine.dispose()
    finally:
        await server_admin(probe, 'DROP DATABASE IF EXISTS "storefront_probe"')
