from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from impl.kit.clock import utcnow
from impl.kit.ids import new_id
from impl.models.base import Base, in_values


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Team(Base):
    __tablename__ = "teams"
    __table_args__ = (CheckConstraint("version >= 1", name="version_positive"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column()
    deleted_at: Mapped[datetime | None]

    # The ORM starts the version at 1 and adds `WHERE version = <loaded>` to every UPDATE,
    # so a concurrent writer makes the flush fail instead of silently winning.
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 (stubs declare it per instance)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        CheckConstraint(in_values("role", Role), name="role"),
        # The member list, in the order people joined.
        Index("ix_memberships_team_id_created_at_user_id", "team_id", "created_at", "user_id"),
    )

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    # The primary key serves lookups by team; "my teams" needs its own index.
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
