from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
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
from impl.models import Base, RefreshToken, SignIn, User
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


async def test_sign_ins_are_made_from_existing_refresh_token_families(
    database: Database,
) -> None:
    engine = create_migration_engine(database.url)
    user, live, ended = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    day = timedelta(days=1)
    try:
        await downgrade(database.url, "0007")
        tokens = [
            # A sign-in rotated once: its first token used up, its newest live.
            (live, now - 2 * day, now - day, now + 28 * day),
            (live, None, now - day, now + 29 * day),
            # A signed-out one: every token revoked.
            (ended, now - day, now - 3 * day, now + 27 * day),
        ]
        # The tables as revision 0007 left them, which the models still describe.
        async with engine.begin() as connection:
            await connection.execute(
                sa.insert(User).values(
                    id=user,
                    email="old@example.com",
                    username="old",
                    password_hash="x",
                    is_active=True,
                    is_admin=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            await connection.execute(
                sa.insert(RefreshToken),
                [
                    {
                        "id": uuid.uuid4(),
                        "user_id": user,
                        "family_id": family,
                        "token_hash": f"{index:064d}",
                        "expires_at": expires_at,
                        "revoked_at": revoked_at,
                        "created_at": created_at,
                    }
                    for index, (family, revoked_at, created_at, expires_at) in enumerate(tokens)
                ],
            )
        await migrate(database.url)
        async with database.sessionmaker() as session:
            sign_ins = {s.id: s for s in (await session.scalars(sa.select(SignIn))).all()}
        assert set(sign_ins) == {live, ended}
        assert sign_ins[live].revoked_at is None
        assert sign_ins[live].expires_at == tokens[1][3]
        assert sign_ins[ended].revoked_at is not None
        assert {s.user_id for s in sign_ins.values()} == {user}
    finally:
        await engine.dispose()
        await database.engine.dispose()
        await database.empty()
