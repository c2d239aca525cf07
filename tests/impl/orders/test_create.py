"""Placing an order on PostgreSQL: the whole order in one statement, without a transaction."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from impl.inventory.errors import InsufficientStockError
from impl.kit.db import Units, create_engine, create_sessionmaker
from impl.kit.query import Query
from impl.models import (
    AuditEvent,
    IdempotencyKey,
    Order,
    OrderLine,
    StockLevel,
    StockMovement,
)
from impl.orders.service import LineRequest, OrderService
from impl.settings import Settings
from impl.teams.access import TeamAccess
from tests.conftest import Database
from tests.factories import access_for, create_product, create_team, create_user


async def _shop(
    sessionmaker: async_sessionmaker[AsyncSession], stock: list[int]
) -> tuple[TeamAccess, list[uuid.UUID]]:
    async with sessionmaker() as session:
        owner = await create_user(session)
        team = await create_team(session, owner=owner)
        products = [await create_product(session, team=team) for _ in stock]
        for product, on_hand in zip(products, stock, strict=True):
            await session.execute(
                update(StockLevel)
                .where(StockLevel.product_id == product.id)
                .values(on_hand=on_hand)
            )
        await session.commit()
        return access_for(owner, team), [product.id for product in products]


_WRITTEN = (Order, StockMovement, IdempotencyKey, AuditEvent)
_LEVEL = (StockLevel.product_id, StockLevel.on_hand)
_LEDGER = (StockMovement.product_id, StockMovement.on_hand_after)


async def _order(
    settings: Settings,
    units: Units,
    access: TeamAccess,
    lines: list[tuple[uuid.UUID, int]],
    *,
    key: str = "k",
) -> None:
    async with units.open(read_only=False) as unit:
        await OrderService(settings).create_order(
            unit,
            access,
            idempotency_key=key,
            customer_email="a@example.com",
            lines=[LineRequest(product_id, quantity) for product_id, quantity in lines],
        )


async def _count(sessionmaker: async_sessionmaker[AsyncSession], entity: type) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(entity)) or 0)


@pytest.fixture
def postgresql(database: Database) -> None:
    if database.backend != "postgresql":
        pytest.skip("SQLite claims, reserves and places in one statement per table")


@pytest.mark.usefixtures("postgresql")
class TestOneStatement:
    async def test_reads_then_one_write_and_no_transaction(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        access, (first, second) = await _shop(sessionmaker, [6, 6])
        service = OrderService(settings)
        # One connection, so the warm-up below prepares what the logged order then uses.
        engine = create_engine(settings.model_copy(update={"db_pool_size": 1}))
        units = Units(create_sessionmaker(engine))
        # The process's first order prepares its statements (one round trip each, once).
        await _order(settings, units, access, [(first, 1), (second, 1)], key="warm")
        sent: list[str] = []
        try:
            async with units.open(read_only=False) as unit:
                driver = (await unit.dbapi_connection()).driver_connection
                driver.add_query_logger(lambda record: sent.append(record.query))
                created = await service.create_order(
                    unit,
                    access,
                    idempotency_key="k",
                    customer_email="a@example.com",
                    lines=[LineRequest(second, 2), LineRequest(first, 1)],
                )
        finally:
            await engine.dispose()
        assert not created.replayed
        assert [query.split()[0].upper() for query in sent] == ["SELECT", "WITH"], sent
        async with sessionmaker() as session:
            levels = dict(
                (await session.execute(select(StockLevel.product_id, StockLevel.on_hand))).all()
            )
            ledger = (
                await session.execute(select(StockMovement.product_id, StockMovement.on_hand_after))
            ).all()
            audited = (
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.entity_type == "stock_movement")
                )
            ).all()
        assert levels == {first: 4, second: 3}
        assert sorted(ledger) == sorted([(first, 5), (second, 5), (first, 4), (second, 3)])
        # The level each ledger row left is in its audit event too, filled in by the statement.
        assert sorted(event.changes["on_hand_after"]["after"] for event in audited) == [3, 4, 5, 5]

    async def test_a_short_line_writes_nothing_and_is_named(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        access, (plenty, scarce) = await _shop(sessionmaker, [10, 1])
        before = {entity: await _count(sessionmaker, entity) for entity in _WRITTEN}
        with pytest.raises(InsufficientStockError) as raised:
            await _order(settings, Units(sessionmaker), access, [(plenty, 3), (scarce, 2)])
        assert raised.value.extensions == {
            "product_id": str(scarce),
            "on_hand": 1,
            "requested": 2,
        }
        assert {entity: await _count(sessionmaker, entity) for entity in _WRITTEN} == before
        async with sessionmaker() as session:
            levels = dict(
                (await session.execute(select(StockLevel.product_id, StockLevel.on_hand))).all()
            )
        assert levels == {plenty: 10, scarce: 1}

    async def test_a_product_without_a_stock_level_writes_nothing(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        access, (product,) = await _shop(sessionmaker, [3])
        async with sessionmaker() as session:
            level = await session.get(StockLevel, product)
            assert level is not None
            await session.delete(level)
            await session.commit()
        before = {entity: await _count(sessionmaker, entity) for entity in _WRITTEN}
        with pytest.raises(InsufficientStockError):
            await _order(settings, Units(sessionmaker), access, [(product, 1)])
        assert {entity: await _count(sessionmaker, entity) for entity in _WRITTEN} == before


# A catalog of stocked products larger than the benchmark's, so that the planner prefers
# the levels' index to reading the whole table for the ten rows it assumes of an array.
_CATALOG = (
    "INSERT INTO products (id, team_id, sku, name, price, currency, status, version, "
    "created_at, updated_at) SELECT gen_random_uuid(), :team_id, 'BULK-' || n, 'Bulk', 1, "
    "'EUR', 'active', 1, now(), now() FROM generate_series(1, 5000) AS n",
    "INSERT INTO stock_levels (product_id, team_id, on_hand, version, updated_at) "
    "SELECT id, team_id, 5, 1, now() FROM products WHERE sku LIKE 'BULK-%'",
    "ANALYZE products",
    "ANALYZE stock_levels",
)
_ORDER_PLANS = Query(
    text(
        "SELECT generic_plans, custom_plans, statement, cardinality(parameter_types) "
        "FROM pg_prepared_statements "
        "WHERE statement LIKE 'WITH claimed AS (INSERT INTO idempotency_keys %'"
    )
)


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    """(node type, table) of every scan of a table in an EXPLAIN (FORMAT JSON) plan."""
    node = plan["Node Type"]
    table = plan.get("Relation Name")
    scans = [(node, table)] if table and node.endswith("Scan") else []
    return scans + [scan for child in plan.get("Plans", []) for scan in _scans(child)]


@pytest.mark.usefixtures("postgresql")
class TestPlan:
    async def test_the_order_statement_keeps_one_generic_plan(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        """PostgreSQL plans a prepared statement's first five runs for their values, then
        keeps its generic plan only if that costs no more than theirs did. An order's
        statement gets there, and that plan reads the stock levels by their index. (With
        its ids and deltas joined in as `unnest(:product_ids, :deltas)`, a one-line order
        was planned afresh on every run: 0.15 ms of PostgreSQL's CPU per order.)"""
        access, (product,) = await _shop(sessionmaker, [100])
        async with sessionmaker() as session:
            for statement in _CATALOG:
                await session.execute(text(statement), {"team_id": access.team_id})
            await session.commit()
        # One connection, so every order runs the same prepared statement.
        engine = create_engine(settings.model_copy(update={"db_pool_size": 1}))
        units = Units(create_sessionmaker(engine))
        try:
            for n in range(10):
                await _order(settings, units, access, [(product, 1)], key=f"plan-{n}")
            async with units.open(read_only=True) as unit:
                plans = await _ORDER_PLANS.one_or_none(unit, {})
                assert plans is not None
                # The generic plan itself, whichever the planner chose: how it scans.
                driver = (await unit.dbapi_connection()).driver_connection
                await driver.execute(f"PREPARE place AS {plans[2]}")
                await driver.execute("SET plan_cache_mode = force_generic_plan")
                nulls = ", ".join(["NULL"] * plans[3])
                # SQLAlchemy's asyncpg connections decode json themselves.
                explained = await driver.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE place({nulls})")
        finally:
            await engine.dispose()
        generic, custom = plans[:2]
        assert custom <= 5
        assert generic == 10 - custom
        levels = {node for node, table in _scans(explained[0]["Plan"]) if table == "stock_levels"}
        assert levels == {"Bitmap Heap Scan"} or levels == {"Index Scan"}, levels
        async with sessionmaker() as session:
            level = await session.get(StockLevel, product)
        assert level is not None
        assert level.on_hand == 90


class TestStoredAsGiven:
    """Every value of an order reaches its rows as it was given, on both databases (on
    PostgreSQL the rows travel to the statement as JSON text)."""

    async def test_text_numbers_and_times(
        self, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        name = 'Ω "quoted" \\ back\\slash\nnew line, tab\t, emoji 😀, </script>'
        async with sessionmaker() as session:
            owner = await create_user(session)
            team = await create_team(session, owner=owner)
            product = await create_product(
                session, team=team, name=name, sku="ÆØÅ-😀", price=Decimal("1234.5")
            )
            await session.execute(
                update(StockLevel).where(StockLevel.product_id == product.id).values(on_hand=9)
            )
            await session.commit()
        access = access_for(owner, team)
        note = name[::-1]
        async with Units(sessionmaker).open(read_only=False) as unit:
            created = await OrderService(settings).create_order(
                unit,
                access,
                idempotency_key="ключ 😀",
                customer_email="Ünïcode@Example.com",
                lines=[LineRequest(product.id, 3)],
                note=note,
            )
        view = created.order
        async with sessionmaker() as session:
            order = await session.get(Order, view.id)
            assert order is not None
            line = (await session.scalars(select(OrderLine))).one()
            key = (await session.scalars(select(IdempotencyKey))).one()
            events = {
                event.entity_type: event
                for event in await session.scalars(
                    select(AuditEvent).where(AuditEvent.entity_type != "product")
                )
            }
            movement = (
                await session.scalars(select(StockMovement).where(StockMovement.delta < 0))
            ).one()
        assert (order.note, order.customer_email) == (note, view.customer_email)
        assert (order.total, order.currency, order.created_at) == (
            Decimal("3703.50"),
            "EUR",
            view.created_at,
        )
        assert (line.sku, line.name, line.unit_price, line.quantity, line.line_total) == (
            "ÆØÅ-😀",
            name,
            Decimal("1234.50"),
            3,
            Decimal("3703.50"),
        )
        assert (key.key, key.response) == ("ключ 😀", view.to_json())
        assert (movement.delta, movement.on_hand_after, movement.order_id) == (-3, 6, view.id)
        assert events["order"].changes["note"] == {"after": note}
        assert events["order"].changes["total"] == {"after": "3703.50"}
        assert events["order"].entity_id == str(view.id)
        assert events["stock_movement"].changes["on_hand_after"] == {"after": 6}
        assert events["stock_movement"].changes["product_id"] == {"after": str(product.id)}
