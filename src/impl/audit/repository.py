from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from impl.kit.db import Unit
from impl.kit.pagination import KeysetPosition, past
from impl.kit.query import Query
from impl.models import AuditEvent

_INSERT = Query(insert(AuditEvent))


class AuditWriter:
    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    async def insert(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Insert events (every column in each), in one round trip."""
        await _INSERT.execute_many(self.unit, events)


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list_for_team(
        self,
        team_id: uuid.UUID,
        *,
        limit: int,
        before: KeysetPosition | None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        actor_id: uuid.UUID | None = None,
        action: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> list[AuditEvent]:
        """Newest first, strictly before `before`, at most `limit`."""
        statement = (
            select(AuditEvent)
            .where(AuditEvent.team_id == team_id)
            .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
            .limit(limit)
        )
        if before is not None:
            statement = statement.where(
                past(before, AuditEvent.created_at, AuditEvent.id, descending=True)
            )
        filters = {
            AuditEvent.entity_type: entity_type,
            AuditEvent.entity_id: entity_id,
            AuditEvent.actor_id: actor_id,
            AuditEvent.action: action,
        }
        for column, value in filters.items():
            if value is not None:
                statement = statement.where(column == value)
        if created_after is not None:
            statement = statement.where(AuditEvent.created_at >= created_after)
        if created_before is not None:
            statement = statement.where(AuditEvent.created_at < created_before)
        return list((await self.session.scalars(statement)).all())
