from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from impl.kit.clock import utcnow
from impl.kit.ids import new_id
from impl.models.base import Base


class AuditEvent(Base):
    """One change to an audited row, written in the transaction that made it."""

    __tablename__ = "audit_events"
    __table_args__ = (
        # The list is per team, newest first, filterable by entity, actor and action.
        Index("ix_audit_events_team_id_created_at_id", "team_id", "created_at", "id"),
        Index("ix_audit_events_team_id_entity", "team_id", "entity_type", "entity_id"),
        Index("ix_audit_events_team_id_actor_id", "team_id", "actor_id"),
        Index("ix_audit_events_team_id_action", "team_id", "action"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # No foreign keys: the trail outlives what it describes (a deleted user, say).
    team_id: Mapped[uuid.UUID | None]
    actor_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(80))
    change: Mapped[str] = mapped_column(String(8))
    changes: Mapped[dict[str, Any]] = mapped_column(JSON)
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
