"""the tracked category: its settings, and each kept email's mark

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_configuration", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "use_tracked_category", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )
        batch_op.add_column(
            sa.Column(
                "tracked_category",
                sa.String(length=64),
                nullable=False,
                server_default="Tracked to Tidings",
            )
        )
    op.create_table(
        "category_marks",
        sa.Column("raw_message_id", sa.Integer(), nullable=False),
        sa.Column("present", sa.Boolean(), nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen", sa.Boolean(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["raw_message_id"],
            ["raw_messages.id"],
            name=op.f("fk_category_marks_raw_message_id_raw_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("raw_message_id", name=op.f("pk_category_marks")),
    )


def downgrade() -> None:
    op.drop_table("category_marks")
    with op.batch_alter_table("email_configuration", schema=None) as batch_op:
        batch_op.drop_column("tracked_category")
        batch_op.drop_column("use_tracked_category")
