from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from impl.kit.clock import utcnow
from impl.kit.ids import new_id
from impl.models.base import Base, in_values


class User(Base):
    __tablename__ = "users"
    # The admin list: oldest first, optionally only (in)active accounts.
    __table_args__ = (
        Index("ix_users_created_at_id", "created_at", "id"),
        Index("ix_users_is_active_created_at", "is_active", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    # Stored lowercased by the service; the unique constraint is what decides duplicates.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    is_admin: Mapped[bool] = mapped_column(default=False, server_default=false())
    deactivated_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SignIn(Base):
    """One sign-in (password grant): the family of refresh tokens rotated from it, and the
    access tokens issued with them, which name it in their `sid` claim.

    Every authenticated request checks its sign-in is not revoked, in the query that checks
    the account, so logging out (or a replayed refresh token) stops its access tokens at once,
    on every process.
    """

    __tablename__ = "sign_ins"

    # The refresh tokens' `family_id`.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    revoked_at: Mapped[datetime | None]
    # The expiry of its newest refresh token: past it, every token of it has expired too.
    # Indexed for the housekeeping purge.
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExternalIdentity(Base):
    """An account's link to a subject of an external OpenID Connect provider: made by the
    subject's first valid token (`impl.auth.external`), which signs it in from then on.

    The caller query of an external token checks its link, as ours check their sign-in:
    deleting the row stops that subject's tokens at once.
    """

    __tablename__ = "external_identities"
    # The unique constraint decides which of two concurrent first tokens makes the account.
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    issuer: Mapped[str] = mapped_column(String(512))
    subject: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefreshToken(Base):
    """One issued refresh token; tokens rotated from one sign-in share a `family_id`."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    # Only the SHA-256 of the token is kept: a database leak must not yield usable tokens.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Indexed for the housekeeping purge of expired tokens.
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Theme(StrEnum):
    SYSTEM = "system"
    LIGHT = "light"
    DARK = "dark"


class UserPreferences(Base):
    """Saved preferences; a user without a row reads the defaults of the contract."""

    __tablename__ = "user_preferences"
    __table_args__ = (CheckConstraint(in_values("theme", Theme), name="theme"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    timezone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(35))
    theme: Mapped[str] = mapped_column(String(16))
    order_updates: Mapped[bool]
    stock_alerts: Mapped[bool]
    weekly_digest: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
