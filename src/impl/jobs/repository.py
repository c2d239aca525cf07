"""The dead letters' queries."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from impl.kit.pagination import KeysetPosition, past
from impl.models import DeadLetter


class DeadLetterRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_page(
        self, *, retried: bool | None, limit: int, after: KeysetPosition | None
    ) -> list[DeadLetter]:
        """Newest first, in `(failed_at, id)` order, strictly before `after`, at most `limit`."""
        statement = (
            select(DeadLetter)
            .order_by(DeadLetter.failed_at.desc(), DeadLetter.id.desc())
            .limit(limit)
        )
        if retried is not None:
            column = DeadLetter.retried_at
            statement = statement.where(column.is_not(None) if retried else column.is_(None))
        if after is not None:
            statement = statement.where(
                past(after, DeadLetter.failed_at, DeadLetter.id, descending=True)
            )
        return list((await self.session.scalars(statement)).all())

    async def get_for_update(self, dead_letter_id: uuid.UUID) -> DeadLetter | None:
        """The row, locked until the transaction ends (two admins retry it once)."""
        return await self.session.get(DeadLetter, dead_letter_id, with_for_update=True)
