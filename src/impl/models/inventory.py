from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from impl.kit.clock import utcnow
from impl.kit.ids import new_id
from impl.models.base import Base, in_values


class StockReason(StrEnum):
    RECEIVE = "receive"
    CORRECTION = "correction"
    DAMAGE = "damage"
    ORDER = "order"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_REFUNDED = "order_refunded"


class StockLevel(Base):
    """The current stock of one product: always the sum of its movements."""

    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),
        CheckConstraint("version >= 1", name="version_positive"),
    )

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    on_hand: Mapped[int]
    # Bumped by every movement; the ETag of the stock resource.
    version: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class StockMovement(Base):
    """One row of the stock ledger: never updated, never deleted."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        CheckConstraint(in_values("reason", StockReason), name="reason"),
        CheckConstraint("delta <> 0", name="delta_non_zero"),
        CheckConstraint("on_hand_after >= 0", name="on_hand_after_non_negative"),
        Index("ix_stock_movements_product_id_created_at_id", "product_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    product_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    delta: Mapped[int]
    on_hand_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(500))
    order_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
