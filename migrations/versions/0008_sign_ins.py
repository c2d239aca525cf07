"""Sign-ins: access tokens name theirs (`sid`), and a revoked one stops them at once.

Existing refresh token families become sign-ins: live if any of their tokens is unrevoked.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_ins",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sign_ins_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_ins")),
    )
    with op.batch_alter_table("sign_ins", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sign_ins_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_sign_ins_user_id"), ["user_id"], unique=False)
    op.execute(
        """
        INSERT INTO sign_ins (id, user_id, revoked_at, expires_at, created_at)
        SELECT family_id, user_id,
               CASE WHEN SUM(CASE WHEN revoked_at IS NULL THEN 1 ELSE 0 END) = 0
                    THEN MAX(revoked_at) END,
               MAX(expires_at), MIN(created_at)
        FROM refresh_tokens
        GROUP BY family_id, user_id
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("sign_ins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_ins_user_id"))
        batch_op.drop_index(batch_op.f("ix_sign_ins_expires_at"))
    op.drop_table("sign_ins")
