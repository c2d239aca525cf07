from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from impl.kit.clock import utcnow
from impl.kit.pagination import KeysetPosition, past
from impl.models import StockLevel, StockMovement


class StockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get_level(self, product_id: uuid.UUID) -> StockLevel | None:
        return await self.session.get(StockLevel, product_id, populate_existing=True)

    async def apply(self, product_id: uuid.UUID, delta: int) -> int | None:
        """Add `delta` to the level in one conditional UPDATE; the new level, or None if it
        would go below zero. Row-locking makes concurrent movements queue, never lose one."""
        result = await self.session.execute(
            update(StockLevel)
            .where(StockLevel.product_id == product_id, StockLevel.on_hand + delta >= 0)
            .values(
                on_hand=StockLevel.on_hand + delta,
                version=StockLevel.version + 1,
                updated_at=utcnow(),
            )
            .returning(StockLevel.on_hand)
            .execution_options(synchronize_session=False)
        )
        return result.scalar_one_or_none()

    async def record(self, movements: Sequence[StockMovement]) -> None:
        self.session.add_all(movements)
        await self.session.flush()

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
