"""Indexes for the admin account list and the team member list.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 06:40:58.440520
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(
            "ix_memberships_team_id_created_at_user_id",
            ["team_id", "created_at", "user_id"],
            unique=False,
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("ix_users_created_at_id", ["created_at", "id"], unique=False)
        batch_op.create_index(
            "ix_users_is_active_created_at", ["is_active", "created_at"], unique=False
        )



def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_is_active_created_at")
        batch_op.drop_index("ix_users_created_at_id")

    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_memberships_team_id_created_at_user_id")

