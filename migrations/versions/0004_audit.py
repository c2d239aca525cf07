"""The audit trail: one row per change to an audited record.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 05:47:01.844062
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=32), nullable=False),
        sa.Column("entity_id", sa.String(length=80), nullable=False),
        sa.Column("change", sa.String(length=8), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_team_id_action", ["team_id", "action"], unique=False)
        batch_op.create_index(
            "ix_audit_events_team_id_actor_id", ["team_id", "actor_id"], unique=False
        )
        batch_op.create_index(
            "ix_audit_events_team_id_created_at_id", ["team_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_audit_events_team_id_entity", ["team_id", "entity_type", "entity_id"], unique=False
        )



def downgrade() -> None:
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_team_id_entity")
        batch_op.drop_index("ix_audit_events_team_id_created_at_id")
        batch_op.drop_index("ix_audit_events_team_id_actor_id")
        batch_op.drop_index("ix_audit_events_team_id_action")

    op.drop_table("audit_events")
