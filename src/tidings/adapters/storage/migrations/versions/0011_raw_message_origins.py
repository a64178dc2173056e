"""further origins of kept raw bytes, and raw bytes found by content

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 23:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "raw_message_origins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raw_message_id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(length=200), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_raw_message_origins_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["raw_message_id"],
            ["raw_messages.id"],
            name=op.f("fk_raw_message_origins_raw_message_id_raw_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_raw_message_origins")),
        sa.UniqueConstraint(
            "mailbox_id",
            "folder",
            "uidvalidity",
            "uid",
            name=op.f("uq_raw_message_origins_mailbox_id_folder_uidvalidity_uid"),
        ),
    )
    with op.batch_alter_table("raw_message_origins", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_raw_message_origins_raw_message_id"), ["raw_message_id"], unique=False
        )
    with op.batch_alter_table("raw_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_raw_messages_mailbox_id_folder_content_hash"),
            ["mailbox_id", "folder", "content_hash"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("raw_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_raw_messages_mailbox_id_folder_content_hash"))
    with op.batch_alter_table("raw_message_origins", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_raw_message_origins_raw_message_id"))
    op.drop_table("raw_message_origins")
