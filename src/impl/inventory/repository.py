from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from impl.audit import recorder
from impl.kit.clock import utcnow
from impl.kit.db import Unit
from impl.kit.pagination import KeysetPosition, past
from impl.kit.query import Query
from impl.models import StockLevel, StockMovement

_levels = StockLevel.__table__
_delta = bindparam("delta", type_=_levels.c.on_hand.type)
_APPLY = Query(
    update(StockLevel)
    .where(
        _levels.c.product_id == bindparam("product", type_=_levels.c.product_id.type),
        _levels.c.on_hand + _delta >= 0,
    )
    .values(
        on_hand=_levels.c.on_hand + _delta,
        version=_levels.c.version + 1,
        updated_at=bindparam("now", type_=_levels.c.updated_at.type),
    )
    .returning(_levels.c.on_hand)
)
_ON_HAND = Query(
    select(_levels.c.on_hand).where(
        _levels.c.product_id == bindparam("product_id", type_=_levels.c.product_id.type)
    )
)
_RECORD = Query(insert(StockMovement))


@dataclass(frozen=True, slots=True)
class MovementRecord:
    """A ledger row as written: every column of `stock_movements`."""

    id: uuid.UUID
    team_id: uuid.UUID
    product_id: uuid.UUID
    delta: int
    on_hand_after: int
    reason: str
    note: str | None
    order_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    created_at: datetime


_MOVEMENT_FIELDS = tuple(field.name for field in fields(MovementRecord))


def movement_row(movement: MovementRecord) -> dict[str, Any]:
    """The ledger row's columns and values."""
    return {name: getattr(movement, name) for name in _MOVEMENT_FIELDS}


class Ledger:
    """Stock levels and the ledger on the unit's connection: prebuilt statements, no ORM."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def apply(self, product_id: uuid.UUID, delta: int) -> int | None:
        """Add `delta` to the level in one conditional UPDATE; the new level, or None if it
        would go below zero. Row-locking makes concurrent movements queue, never lose one."""
        row = await _APPLY.one_or_none(
            self.unit, {"product": product_id, "delta": delta, "now": utcnow()}
        )
        return None if row is None else int(row[0])

    async def on_hand(self, product_id: uuid.UUID) -> int | None:
        row = await _ON_HAND.one_or_none(self.unit, {"product_id": product_id})
        return None if row is None else int(row[0])

    async def first_short(
        self, wanted: Sequence[tuple[uuid.UUID, int]]
    ) -> tuple[uuid.UUID, int, int] | None:
        """The first product, in id order, with less on hand than wanted: its id, its level
        (0 with none) and the quantity wanted; None if every one has enough now."""
        for product_id, quantity in sorted(wanted):
            on_hand = await self.on_hand(product_id) or 0
            if on_hand < quantity:
                return product_id, on_hand, quantity
        return None

    async def record(self, movements: Sequence[MovementRecord]) -> None:
        """Insert the ledger rows, and their audit and domain events as the ORM would record
        them."""
        rows = [movement_row(movement) for movement in movements]
        await _RECORD.execute_many(self.unit, rows)
        recorder.queue(
            self.unit,
            [recorder.created_event(StockMovement, row) for row in rows],
            [recorder.created_outbox(StockMovement, row) for row in rows],
        )


class StockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_level(self, product_id: uuid.UUID) -> StockLevel | None:
        return await self.session.get(StockLevel, product_id, populate_existing=True)

    async def movements(
        self, product_id: uuid.UUID, *, limit: int, after: KeysetPosition | None
    ) -> list[StockMovement]:
        """The product's ledger, oldest first, strictly after `after`, at most `limit`."""
        statement = (
            select(StockMovement)
            .where(StockMovement.product_id == product_id)
            .order_by(StockMovement.created_at, StockMovement.id)
            .limit(limit)
        )
        if after is not None:
            statement = statement.where(past(after, StockMovement.created_at, StockMovement.id))
        return list((await self.session.scalars(statement)).all())
