from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy import any_, bindparam, func, insert, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import EmulatedDBAPIException
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.pool import QueuePool

from impl.app import READ_AHEAD
from impl.auth.repository import caller_and
from impl.kit.db import Units
from impl.kit.query import Query
from impl.models import IdempotencyKey, Product, Team, User
from impl.orders.repository import equals_any
from tests.conftest import Database
from tests.factories import create_product, create_team

_keys = IdempotencyKey.__table__
_INSERT_KEY = Query(insert(IdempotencyKey))
_KEYS = Query(
    select(_keys.c.key, _keys.c.response, _keys.c.created_at)
    .where(_keys.c.team_id == bindparam("team", type_=_keys.c.team_id.type))
    .order_by(_keys.c.key)
)
_COUNT_USERS = Query(select(func.count()).select_from(User))
_TEAM_NAMES = Query(select(Team.__table__.c.name))
_BACKEND_PID = Query(select(func.pg_backend_pid()))
_PRICES = Query(select(Product.__table__.c.price))


def _key(team_id: object, key: str, response: object) -> dict[str, object]:
    return {
        "team_id": team_id,
        "operation": "test",
        "key": key,
        "request_hash": "0" * 64,
        "resource_id": None,
        "response": response,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    }


async def _team_id(sessionmaker: async_sessionmaker[AsyncSession]) -> object:
    async with sessionmaker() as session:
        team = await create_team(session)
        await session.commit()
        return team.id


class TestQuery:
    async def test_values_round_trip_through_the_column_types(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        team_id = await _team_id(sessionmaker)
        units = Units(sessionmaker)
        async with units.open(read_only=False) as unit:
            await _INSERT_KEY.execute_many(
                unit,
                [_key(team_id, "a", {"total": "1.50", "n": [1]}), _key(team_id, "b", None)],
            )
        async with units.open(read_only=True) as unit:
            rows = await _KEYS.rows(unit, {"team": team_id})
        assert [tuple(row) for row in rows] == [
            ("a", {"total": "1.50", "n": [1]}, datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)),
            ("b", None, datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)),
        ]

    async def test_runs_in_the_units_transaction(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        team_id = await _team_id(sessionmaker)
        units = Units(sessionmaker)

        async def insert_then_fail() -> None:
            async with units.open(read_only=False) as unit:
                await _INSERT_KEY.execute_many(unit, [_key(team_id, "gone", None)])
                assert len(await _KEYS.rows(unit, {"team": team_id})) == 1
                raise LookupError

        with pytest.raises(LookupError):
            await insert_then_fail()
        async with units.open(read_only=True) as unit:
            assert await _KEYS.rows(unit, {"team": team_id}) == []

    async def test_read_only_unit_refuses_writes(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        team_id = await _team_id(sessionmaker)
        async with Units(sessionmaker).open(read_only=True) as unit:
            with pytest.raises(RuntimeError, match="read-only"):
                await _INSERT_KEY.execute_many(unit, [_key(team_id, "no", None)])

    async def test_sees_what_the_session_has_not_flushed(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        async with Units(sessionmaker).open(read_only=False) as unit:
            unit.session.add(User(email="q@example.com", username="q", password_hash="x"))
            row = await _COUNT_USERS.one_or_none(unit, {})
            assert row is not None
            assert row[0] == 1

    async def test_decimal_and_one_or_none(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        async with sessionmaker() as session:
            await create_product(session, team=await create_team(session), price=Decimal("12.50"))
            await create_team(session)
            await session.commit()
        async with Units(sessionmaker).open(read_only=True) as unit:
            assert await _PRICES.rows(unit, {}) == [(Decimal("12.50"),)]
            with pytest.raises(RuntimeError, match="at most one row"):
                await _TEAM_NAMES.one_or_none(unit, {})


_products = Product.__table__
# The caller query with products read ahead, by a marker in its text.
_PLANS = Query(
    text(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
        "WHERE position('caller LEFT OUTER JOIN' in statement) > 0 "
        "AND position(:marker in statement) > 0"
    )
)
_CATALOG = text(
    "INSERT INTO products (id, team_id, sku, name, price, currency, status, version, "
    "created_at, updated_at) SELECT gen_random_uuid(), :team_id, 'BULK-' || n, 'Bulk', 1, "
    "'EUR', 'active', 1, now(), now() FROM generate_series(1, 1000) AS n"
)


class TestEqualsAny:
    async def test_finds_the_rows_of_any_number_of_ids(
        self, database: Database, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        if database.backend != "postgresql":
            pytest.skip("an array parameter is PostgreSQL's")
        async with sessionmaker() as session:
            team = await create_team(session)
            products = [await create_product(session, team=team) for _ in range(3)]
            await session.commit()
        query = Query(
            select(_products.c.sku)
            .where(equals_any(_products.c.id, "ids"))
            .order_by(_products.c.sku)
        )
        async with Units(sessionmaker).open(read_only=True) as unit:
            for chosen in ([], products[:1], products[1:]):
                rows = await query.rows(unit, {"ids": [p.id for p in chosen]})
                assert [row[0] for row in rows] == sorted(p.sku for p in chosen)

    async def test_the_order_products_read_keeps_one_generic_plan(
        self, database: Database, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        """PostgreSQL plans a prepared statement's first five runs for their values, then
        keeps its generic plan only if that costs no more than theirs did. On a catalog of
        a thousand products, the caller query with an order's products (the read create
        order makes ahead) gets there; with `= ANY(:ids)` it is planned on every run."""
        if database.backend != "postgresql":
            pytest.skip("plan caching is PostgreSQL's")
        async with sessionmaker() as session:
            team = await create_team(session)
            product = await create_product(session, team=team)
            await session.execute(_CATALOG, {"team_id": team.id})
            await session.execute(text("ANALYZE products"))
            await session.commit()
        ahead = READ_AHEAD["create_order"]
        ids = bindparam("ids", type_=ARRAY(_products.c.id.type))
        variants = {
            "hidden": caller_and(ahead.statement, postgresql=ahead.postgresql),
            "shown": caller_and(
                select(*ahead.statement.selected_columns).where(_products.c.id == any_(ids))
            ),
        }
        params = {
            "user_id": uuid.uuid4(),
            "sign_in_id": uuid.uuid4(),
            "team_id": team.id,
            "ids": [product.id],
        }
        plans = {}
        async with Units(sessionmaker).open(read_only=True) as unit:
            for name, query in variants.items():
                marker = {"marker": "ANY (array((SELECT" if name == "hidden" else "ANY ($"}
                # The pooled connection may have run it before, in another test.
                before = await _PLANS.one_or_none(unit, marker) or (0, 0)
                for _ in range(10):
                    assert await query.rows(unit, params) == []  # no such caller
                after = await _PLANS.one_or_none(unit, marker)
                assert after is not None
                plans[name] = (after[0] - before[0], after[1] - before[1])
        generic, custom = plans["hidden"]
        assert custom <= 5
        assert generic == 10 - custom
        assert plans["shown"] == (0, 10)


class TestBrokenConnection:
    async def test_leaves_the_pool(
        self, database: Database, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        if database.backend != "postgresql":
            pytest.skip("only PostgreSQL statements bypass SQLAlchemy's execution")
        units = Units(sessionmaker)

        async def kill_then_query() -> None:
            async with units.open(read_only=True) as unit:
                row = await _BACKEND_PID.one_or_none(unit, {})
                assert row is not None
                async with sessionmaker() as other:
                    await other.execute(select(func.pg_terminate_backend(row[0])))
                await _COUNT_USERS.one_or_none(unit, {})

        with pytest.raises(
            (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError)
        ):
            await kill_then_query()
        # Every pooled connection (five) is alive: the dead one was dropped, not reused.
        for _ in range(6):
            async with units.open(read_only=True) as unit:
                assert await _COUNT_USERS.one_or_none(unit, {}) == (0,)


class TestUnit:
    async def test_before_commit_runs_on_commit_only(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        ran: list[str] = []
        units = Units(sessionmaker)

        async def note(label: str) -> None:
            ran.append(label)

        async with units.open(read_only=False) as unit:
            unit.before_commit(lambda: note("committed"))

        async def fail() -> None:
            async with units.open(read_only=False) as unit:
                unit.before_commit(lambda: note("rolled back"))
                raise LookupError

        with pytest.raises(LookupError):
            await fail()
        assert ran == ["committed"]

    async def test_session_commits_with_the_unit(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        units = Units(sessionmaker)
        async with units.open(read_only=False) as unit:
            unit.session.add(User(email="s@example.com", username="s", password_hash="x"))

        async def flush_then_fail() -> None:
            async with units.open(read_only=False) as unit:
                unit.session.add(User(email="t@example.com", username="t", password_hash="x"))
                await unit.session.flush()
                raise LookupError

        with pytest.raises(LookupError):
            await flush_then_fail()
        async with units.open(read_only=True) as unit:
            row = await _COUNT_USERS.one_or_none(unit, {})
            assert row is not None
            assert row[0] == 1


def _checked_out(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    pool = sessionmaker.kw["bind"].pool
    assert isinstance(pool, QueuePool)
    return pool.checkedout()


class TestReadOnlyUnitOnTheDriver:
    async def test_holds_one_driver_connection_and_no_sqlalchemy_connection(
        self, database: Database, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        if database.backend != "postgresql":
            pytest.skip("SQLite units always run through SQLAlchemy")
        async with Units(sessionmaker).open(read_only=True) as unit:
            assert await _COUNT_USERS.one_or_none(unit, {}) == (0,)
            assert _checked_out(sessionmaker) == 1
            with pytest.raises(RuntimeError, match="no SQLAlchemy connection"):
                _ = unit.connection
        assert _checked_out(sessionmaker) == 0

    async def test_hands_its_connection_to_the_session_when_the_orm_is_needed(
        self, database: Database, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        async with sessionmaker() as session:
            await create_team(session, name="Kept")
            await session.commit()
        postgresql = database.backend == "postgresql"
        async with Units(sessionmaker).open(read_only=True) as unit:
            assert await _TEAM_NAMES.rows(unit, {}) == [("Kept",)]
            names = await unit.session.scalars(select(Team.name))
            assert list(names) == ["Kept"]
            if postgresql:  # the driver connection went back before the session took one
                assert _checked_out(sessionmaker) == 1
            # A statement after the ORM runs on the session's connection.
            assert await _TEAM_NAMES.rows(unit, {}) == [("Kept",)]
            if postgresql:
                assert _checked_out(sessionmaker) == 1
            unit.session.add(User(email="w@example.com", username="w", password_hash="x"))
            with pytest.raises(RuntimeError, match="read-only"):
                await unit.session.flush()
            unit.session.expunge_all()
        if postgresql:
            assert _checked_out(sessionmaker) == 0


class TestAlone:
    """`Query(alone=True)`: atomic by itself, it may be a unit's only write."""

    _ALONE = Query(insert(IdempotencyKey), alone=True)

    async def test_runs_without_a_transaction_and_seals_the_unit(
        self, database: Database, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        if database.backend != "postgresql":
            pytest.skip("SQLite statements run through SQLAlchemy, in the unit's transaction")
        team_id = await _team_id(sessionmaker)
        units = Units(sessionmaker)
        sent: list[str] = []

        async def alone_then_fail() -> None:
            async with units.open(read_only=False) as unit:
                driver = (await unit.dbapi_connection()).driver_connection
                driver.add_query_logger(lambda record: sent.append(record.query))
                assert await _COUNT_USERS.one_or_none(unit, {}) == (0,)  # a read: no BEGIN
                await self._ALONE.execute_many(unit, [_key(team_id, "alone", None)])
                with pytest.raises(RuntimeError, match="cannot write again"):
                    await _INSERT_KEY.execute_many(unit, [_key(team_id, "more", None)])
                with pytest.raises(RuntimeError, match="cannot write again"):
                    _ = unit.session
                raise LookupError

        with pytest.raises(LookupError):
            await alone_then_fail()
        await asyncio.sleep(0)  # asyncpg calls its query loggers with `call_soon`
        assert any("INSERT INTO idempotency_keys" in query for query in sent), sent  # logged
        assert not any(query.strip().upper().startswith("BEGIN") for query in sent), sent
        async with units.open(read_only=True) as unit:
            # Committed by itself: the unit's rollback had nothing to undo.
            assert [row[0] for row in await _KEYS.rows(unit, {"team": team_id})] == ["alone"]

    async def test_after_another_write_it_joins_the_transaction(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        team_id = await _team_id(sessionmaker)
        units = Units(sessionmaker)

        async def write_twice_then_fail() -> None:
            async with units.open(read_only=False) as unit:
                await _INSERT_KEY.execute_many(unit, [_key(team_id, "first", None)])
                await self._ALONE.execute_many(unit, [_key(team_id, "second", None)])
                raise LookupError

        with pytest.raises(LookupError):
            await write_twice_then_fail()
        async with units.open(read_only=True) as unit:
            assert await _KEYS.rows(unit, {"team": team_id}) == []

    async def test_not_with_audit_events_waiting_for_the_commit(
        self, database: Database, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        team_id = await _team_id(sessionmaker)
        units = Units(sessionmaker)

        async def noop() -> None:
            return None

        async def queue_then_fail() -> None:
            async with units.open(read_only=False) as unit:
                unit.before_commit(noop)  # e.g. audit events queued for the commit
                assert not unit.may_write_alone()
                await self._ALONE.execute_many(unit, [_key(team_id, "joined", None)])
                raise LookupError

        with pytest.raises(LookupError):
            await queue_then_fail()
        async with units.open(read_only=True) as unit:
            assert await _KEYS.rows(unit, {"team": team_id}) == []


class TestDeferredBegin:
    async def test_reads_take_no_transaction_until_a_write_or_a_lock(
        self, database: Database, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        if database.backend != "postgresql":
            pytest.skip("SQLite statements run through SQLAlchemy, in the unit's transaction")
        locking = Query(select(User.__table__.c.id).with_for_update())
        async with Units(sessionmaker).open(read_only=False) as unit:
            adapter = await unit.dbapi_connection()
            await _COUNT_USERS.rows(unit, {})
            assert adapter._transaction is None
            await locking.rows(unit, {})  # FOR UPDATE locks rows: only inside a transaction
            assert adapter._transaction is not None


class TestReadWriteUnitOnTheDriver:
    """On PostgreSQL a read-write unit starts on a bare driver connection; the ORM gets a
    SQLAlchemy connection on that same connection, in the same transaction."""

    @pytest.fixture(autouse=True)
    def _postgresql(self, database: Database) -> None:
        if database.backend != "postgresql":
            pytest.skip("SQLite units always run through SQLAlchemy")

    async def test_statements_alone_open_no_sqlalchemy_connection(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        team_id = await _team_id(sessionmaker)
        units = Units(sessionmaker)
        async with units.open(read_only=False) as unit:
            await _INSERT_KEY.execute_many(unit, [_key(team_id, "kept", None)])
            assert unit._connection is None
            assert _checked_out(sessionmaker) == 1
        assert _checked_out(sessionmaker) == 0
        async with units.open(read_only=True) as unit:
            assert [row[0] for row in await _KEYS.rows(unit, {"team": team_id})] == ["kept"]

    @pytest.mark.parametrize("fails", [False, True])
    async def test_statements_and_the_orm_share_one_transaction(
        self, sessionmaker: async_sessionmaker[AsyncSession], fails: bool
    ) -> None:
        team_id = await _team_id(sessionmaker)
        units = Units(sessionmaker)

        async def both() -> None:
            async with units.open(read_only=False) as unit:
                await _INSERT_KEY.execute_many(unit, [_key(team_id, "before", None)])
                pid = await _BACKEND_PID.one_or_none(unit, {})
                assert pid is not None
                unit.session.add(User(email="orm@example.com", username="orm", password_hash="x"))
                await unit.session.flush()
                # The ORM runs on the unit's one connection, and sees the statement's write.
                assert await unit.session.scalar(select(func.pg_backend_pid())) == pid[0]
                assert await unit.session.scalar(select(func.count()).select_from(_keys)) == 1
                assert _checked_out(sessionmaker) == 1
                await _INSERT_KEY.execute_many(unit, [_key(team_id, "after", None)])
                if fails:
                    raise LookupError

        if fails:
            with pytest.raises(LookupError):
                await both()
        else:
            await both()
        assert _checked_out(sessionmaker) == 0
        async with units.open(read_only=True) as unit:
            keys = [row[0] for row in await _KEYS.rows(unit, {"team": team_id})]
            users = await _COUNT_USERS.one_or_none(unit, {})
        assert (keys, users) == (([], (0,)) if fails else (["after", "before"], (1,)))

    async def test_the_orm_first_then_statements(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        team_id = await _team_id(sessionmaker)
        units = Units(sessionmaker)
        async with units.open(read_only=False) as unit:
            unit.session.add(User(email="first@example.com", username="first", password_hash="x"))
            await _INSERT_KEY.execute_many(unit, [_key(team_id, "second", None)])  # autoflush
            assert await _COUNT_USERS.one_or_none(unit, {}) == (1,)
        async with units.open(read_only=True) as unit:
            assert await _COUNT_USERS.one_or_none(unit, {}) == (1,)
            assert [row[0] for row in await _KEYS.rows(unit, {"team": team_id})] == ["second"]

    async def test_a_connection_lost_before_the_commit_leaves_the_pool(
        self, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        team_id = await _team_id(sessionmaker)
        units = Units(sessionmaker)

        async def write_then_lose_the_connection() -> None:
            async with units.open(read_only=False) as unit:
                await _INSERT_KEY.execute_many(unit, [_key(team_id, "lost", None)])
                row = await _BACKEND_PID.one_or_none(unit, {})
                assert row is not None
                async with sessionmaker() as other:
                    await other.execute(select(func.pg_terminate_backend(row[0])))
                    await other.commit()

        # SQLAlchemy's adapter wraps the driver's errors in its own DBAPI classes. Which one
        # depends on when the driver notices ("connection is closed", "cannot switch…").
        with pytest.raises(EmulatedDBAPIException):
            await write_then_lose_the_connection()
        assert _checked_out(sessionmaker) == 0
        # Every pooled connection (five) is alive: the dead one was dropped, not reused.
        for _ in range(6):
            async with units.open(read_only=False) as unit:
                assert await _KEYS.rows(unit, {"team": team_id}) == []
