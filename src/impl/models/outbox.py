"""The transactional event log: one row per domain event, written with the change."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Identity, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from impl.models.base import Base

_UNPUBLISHED = text("published_at IS NULL")


class OutboxEvent(Base):
    """A domain event, in the layout of Debezium's outbox event router (`id`,
    `aggregatetype`, `aggregateid`, `type`, `payload`, `timestamp`), so a change-data-capture
    connector can publish the table as it is; `payload` is the whole CloudEvents 1.0
    envelope (structured mode), the message the relay publishes too.

    `sequence` orders the log (and keys the relay's reads); `published_at` is the relay's
    marker: NULL until the event has been handed on (`impl.events.relay`).
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        # The relay's read: the oldest unpublished events. Partial, so it stays as small as
        # the backlog however long the log grows.
        Index(
            "ix_outbox_events_unpublished",
            "sequence",
            postgresql_where=_UNPUBLISHED,
            sqlite_where=_UNPUBLISHED,
        ),
        # A team's own events in order (its activity feed).
        Index("ix_outbox_events_team_id_sequence", "team_id", "sequence"),
        # Never reuse a number, even that of the newest row once deleted.
        {"sqlite_autoincrement": True},
    )

    # SQLite: INTEGER PRIMARY KEY is the rowid, assigned in commit order (one writer at a
    # time); PostgreSQL: an identity column.
    sequence: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), Identity(), primary_key=True
    )
    # The CloudEvents `id`: what consumers (and JetStream's deduplication) key on.
    id: Mapped[uuid.UUID] = mapped_column(unique=True)
    aggregatetype: Mapped[str] = mapped_column(String(32))
    aggregateid: Mapped[str] = mapped_column(String(80))
    # The catalogue's name of the event (`order.created`); the envelope's `type` is longer.
    type: Mapped[str] = mapped_column(String(64))
    # No foreign keys: the log outlives what it describes (a deleted team's events).
    team_id: Mapped[uuid.UUID | None]
    actor_id: Mapped[uuid.UUID | None]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    timestamp: Mapped[datetime]
    published_at: Mapped[datetime | None]


class OutboxRelay(Base):
    """Who relays the log now: the lease one relay instance holds and renews while it
    publishes (`impl.events.relay`); another takes over once it has expired."""

    __tablename__ = "outbox_relays"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime | None]
