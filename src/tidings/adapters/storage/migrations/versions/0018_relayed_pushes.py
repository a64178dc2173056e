"""change notifications relayed to the sync workers when too large for a NOTIFY

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 03:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relayed_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relayed_pushes")),
    )
    op.create_index(
        op.f("ix_relayed_pushes_created_at"), "relayed_pushes", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_relayed_pushes_created_at"), table_name="relayed_pushes")
    op.drop_table("relayed_pushes")
