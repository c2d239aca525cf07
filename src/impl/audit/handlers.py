from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from generated import models
from generated.responses import audit as r
from impl.audit.service import AuditService
from impl.context import RequestContext
from impl.models import AuditEvent


def event_out(event: AuditEvent) -> models.AuditEvent:
    return models.AuditEvent(
        id=event.id,
        actor_id=event.actor_id,
        action=event.action,
        entity_type=models.EntityType(event.entity_type),
        entity_id=event.entity_id,
        change=models.Change(event.change),
        changes={
            name: models.FieldChange.model_validate(change)
            for name, change in event.changes.items()
        },
        request_id=event.request_id,
        created_at=event.created_at,
    )


class AuditHandlers:
    def __init__(self, audit: AuditService) -> None:
        self._audit = audit

    async def list_audit_events(
        self,
        ctx: RequestContext,
        *,
        team_id: UUID,
        entity_type: Literal["team", "membership", "product", "stock_movement", "order"] | None,
        entity_id: str | None,
        actor_id: UUID | None,
        action: str | None,
        created_after: datetime | None,
        created_before: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> r.ListAuditEvents200:
        page = await self._audit.list_events(
            ctx.session,
            ctx.team_access(),
            limit=limit,
            cursor=cursor,
            entity_type=entity_type,
            entity_id=entity_id,
            actor_id=actor_id,
            action=action,
            created_after=created_after,
            created_before=created_before,
        )
        return r.ListAuditEvents200(
            body=models.AuditEventPage(
                items=[event_out(e) for e in page.items], next_cursor=page.next_cursor
            )
        )
