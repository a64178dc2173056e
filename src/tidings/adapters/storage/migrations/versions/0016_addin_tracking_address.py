"""the tracking address, and "track when sent" from the App for Outlook

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_configuration") as batch:
        batch.add_column(sa.Column("tracking_address", sa.String(length=320), nullable=True))
    op.create_table(
        "track_when_sent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("regarding_kind", sa.String(length=32), nullable=True),
        sa.Column("regarding_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_track_when_sent_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_track_when_sent")),
        sa.UniqueConstraint("token", name=op.f("uq_track_when_sent_token")),
    )
    op.create_index(
        op.f("ix_track_when_sent_user_id"), "track_when_sent", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_track_when_sent_user_id"), table_name="track_when_sent")
    op.drop_table("track_when_sent")
    with op.batch_alter_table("email_configuration") as batch:
        batch.drop_column("tracking_address")
