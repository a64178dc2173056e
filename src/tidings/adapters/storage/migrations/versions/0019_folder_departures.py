"""when each kept copy of an email left its folder on the server

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "folder_departures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raw_message_id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("departed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_folder_departures_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["raw_message_id"],
            ["raw_messages.id"],
            name=op.f("fk_folder_departures_raw_message_id_raw_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_folder_departures")),
        sa.UniqueConstraint(
            "mailbox_id",
            "folder",
            "uidvalidity",
            "uid",
            name=op.f("uq_folder_departures_mailbox_id_folder_uidvalidity_uid"),
        ),
    )
    with op.batch_alter_table("folder_departures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_folder_departures_raw_message_id"), ["raw_message_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("folder_departures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_folder_departures_raw_message_id"))
    op.drop_table("folder_departures")
