"""Product tags (a column read with the product, indexed by product_tags) and the indexes
of the list's sorts and filters.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 05:53:20.284125
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_tags",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.Column("team_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_tags_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_product_tags_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", "tag", name=op.f("pk_product_tags")),
    )
    with op.batch_alter_table("product_tags", schema=None) as batch_op:
        batch_op.create_index("ix_product_tags_team_id_tag", ["team_id", "tag"], unique=False)

    with op.batch_alter_table("products", schema=None) as batch_op:
        # Existing products have no tags.
        batch_op.add_column(
            sa.Column("tags", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
        batch_op.create_index(
            "ix_products_team_id_name_id", ["team_id", "name", "id"], unique=False
        )
        batch_op.create_index(
            "ix_products_team_id_price_id", ["team_id", "price", "id"], unique=False
        )
        batch_op.create_index("ix_products_team_id_status", ["team_id", "status"], unique=False)



def downgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index("ix_products_team_id_status")
        batch_op.drop_index("ix_products_team_id_price_id")
        batch_op.drop_index("ix_products_team_id_name_id")
        batch_op.drop_column("tags")

    with op.batch_alter_table("product_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_product_tags_team_id_tag")

    op.drop_table("product_tags")
