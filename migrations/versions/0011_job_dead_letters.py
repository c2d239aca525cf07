"""Dead letters: background jobs that failed on every attempt (impl.jobs).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_dead_letters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("task", sa.String(length=128), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("kwargs", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retried_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_job_id", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_dead_letters")),
    )
    with op.batch_alter_table("job_dead_letters", schema=None) as batch_op:
        batch_op.create_index(
            "ix_job_dead_letters_failed_at_id", ["failed_at", "id"], unique=False
        )
        batch_op.create_index("ix_job_dead_letters_retried_at", ["retried_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_dead_letters", schema=None) as batch_op:
        batch_op.drop_index("ix_job_dead_letters_retried_at")
        batch_op.drop_index("ix_job_dead_letters_failed_at_id")
    op.drop_table("job_dead_letters")
