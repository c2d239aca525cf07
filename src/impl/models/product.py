from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from impl.kit.clock import utcnow
from impl.kit.ids import new_id
from impl.models.base import Base, in_values


class ProductStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


_NOT_DELETED = text("deleted_at IS NULL")


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint(in_values("status", ProductStatus), name="status"),
        CheckConstraint("price >= 0", name="price_non_negative"),
        CheckConstraint("version >= 1", name="version_positive"),
        # Partial: a soft-deleted product frees its SKU for reuse.
        Index(
            "uq_products_team_id_sku",
            "team_id",
            "sku",
            unique=True,
            sqlite_where=_NOT_DELETED,
            postgresql_where=_NOT_DELETED,
        ),
        # One index per sort and filter the list offers.
        Index("ix_products_team_id_created_at_id", "team_id", "created_at", "id"),
        Index("ix_products_team_id_name_id", "team_id", "name", "id"),
        Index("ix_products_team_id_price_id", "team_id", "price", "id"),
        Index("ix_products_team_id_status", "team_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    # Read with the product; `product_tags` below indexes them for the tag filter.
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None]

    # See Team: optimistic concurrency behind the If-Match check.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (stubs declare it per instance)


class ProductTag(Base):
    """One tag of one product: the index behind `?tag=`; mirrors `Product.tags`."""

    __tablename__ = "product_tags"
    __table_args__ = (Index("ix_product_tags_team_id_tag", "team_id", "tag"),)

    product_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(32), primary_key=True)
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
