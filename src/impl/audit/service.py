from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from impl.audit.repository import AuditRepository
from impl.kit.pagination import CursorCodec, KeysetPosition, Page, build_page, clamp_limit
from impl.models import AuditEvent
from impl.settings import Settings
from impl.teams.access import TeamAccess


def _position(event: AuditEvent) -> KeysetPosition:
    return KeysetPosition(created_at=event.created_at, id=event.id)


class AuditService:
    def __init__(self, settings: Settings) -> None:
        self._cursors = CursorCodec(settings.cursor_secret.get_secret_value().encode())

    async def list_events(
        self,
        session: AsyncSession,
        access: TeamAccess,
        *,
        limit: int | None = None,
        cursor: str | None = None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        actor_id: uuid.UUID | None = None,
        action: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> Page[AuditEvent]:
        limit = clamp_limit(limit)
        before = self._cursors.decode_position(cursor) if cursor else None
        rows = await AuditRepository(session).list_for_team(
            access.team_id,
            limit=limit + 1,
            before=before,
            entity_type=entity_type,
            entity_id=entity_id,
            actor_id=actor_id,
            action=action,
            created_after=created_after,
            created_before=created_before,
        )
        return build_page(rows, limit=limit, codec=self._cursors, position=_position)
