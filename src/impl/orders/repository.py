from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from impl.kit.pagination import KeysetPosition, past
from impl.models import IdempotencyKey, Order, Product
from impl.orders.errors import OrderModifiedError


class OrderRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def products_in_team(
        self, team_id: uuid.UUID, product_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Product]:
        rows = await self.session.scalars(
            select(Product).where(
                Product.team_id == team_id,
                Product.id.in_(product_ids),
                Product.deleted_at.is_(None),
            )
        )
        return {product.id: product for product in rows}

    def add(self, order: Order) -> Order:
        self.session.add(order)
        return order

    async def get_in_team(
        self, team_id: uuid.UUID, order_id: uuid.UUID, *, for_update: bool = False
    ) -> Order | None:
        statement = (
            select(Order)
            .where(Order.team_id == team_id, Order.id == order_id)
            .options(selectinload(Order.lines))
            .execution_options(populate_existing=True)
        )
        if for_update:
            statement = statement.with_for_update(of=Order)
        return await self.session.scalar(statement)

    async def list_in_team(
        self,
        team_id: uuid.UUID,
        *,
        limit: int,
        before: KeysetPosition | None,
        status: str | None,
        customer_email: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
    ) -> list[Order]:
        """Newest first, strictly before `before`, at most `limit`, with their lines."""
        statement = (
            select(Order)
            .where(Order.team_id == team_id)
            .options(selectinload(Order.lines))
            .order_by(Order.created_at.desc(), Order.id.desc())
            .limit(limit)
        )
        if before is not None:
            statement = statement.where(past(before, Order.created_at, Order.id, descending=True))
        if status is not None:
            statement = statement.where(Order.status == status)
        if customer_email is not None:
            statement = statement.where(Order.customer_email == customer_email)
        if created_after is not None:
            statement = statement.where(Order.created_at >= created_after)
        if created_before is not None:
            statement = statement.where(Order.created_at < created_before)
        return list((await self.session.scalars(statement)).all())

    async def set_status(self, order: Order, status: str) -> None:
        order.status = status
        try:
            async with self.session.begin_nested():
                await self.session.flush()
        except StaleDataError as error:
            raise OrderModifiedError from error


class IdempotencyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim(
        self, *, team_id: uuid.UUID, operation: str, key: str, request_hash: str
    ) -> IdempotencyKey | None:
        """Insert the key; None if this request is the first, else the row already there.

        One statement, no savepoint: the insert does nothing when the key exists. On
        PostgreSQL a concurrent first request holding the key makes it wait until that one
        commits (then: the existing row) or rolls back (then: ours).
        """
        values = {
            "team_id": team_id,
            "operation": operation,
            "key": key,
            "request_hash": request_hash,
        }
        statement: Insert
        if self.session.get_bind().dialect.name == "postgresql":
            statement = pg_insert(IdempotencyKey).values(values).on_conflict_do_nothing()
        else:
            statement = sqlite_insert(IdempotencyKey).values(values).on_conflict_do_nothing()
        inserted = await self.session.scalar(statement.returning(IdempotencyKey.key))
        if inserted is not None:
            return None
        existing = await self.session.scalar(
            select(IdempotencyKey)
            .where(
                IdempotencyKey.team_id == team_id,
                IdempotencyKey.operation == operation,
                IdempotencyKey.key == key,
            )
            .execution_options(populate_existing=True)
        )
        if existing is None:
            raise RuntimeError("idempotency key conflicted but cannot be read")
        return existing

    async def complete(
        self, row_key: tuple[uuid.UUID, str, str], *, resource_id: uuid.UUID, response: Any
    ) -> None:
        team_id, operation, key = row_key
        await self.session.execute(
            update(IdempotencyKey)
            .where(
                IdempotencyKey.team_id == team_id,
                IdempotencyKey.operation == operation,
                IdempotencyKey.key == key,
            )
            .values(resource_id=resource_id, response=response)
            .execution_options(synchronize_session=False)
        )

    async def delete_created_before(self, cutoff: datetime, *, limit: int) -> int:
        """Delete at most `limit` keys first used before `cutoff`; return how many went."""
        primary_key = (IdempotencyKey.team_id, IdempotencyKey.operation, IdempotencyKey.key)
        batch = (
            select(*primary_key)
            .where(IdempotencyKey.created_at < cutoff)
            .limit(limit)
            # PostgreSQL: a concurrent purge takes other rows instead of waiting on these.
            .with_for_update(skip_locked=True)
        )
        result = await self.session.execute(
            delete(IdempotencyKey)
            .where(tuple_(*primary_key).in_(batch))
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
