"""kept emails are looked up by mailbox and identity, not by mailbox alone

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 17:20:00

Each email a sync keeps is checked for copies in the mailbox's other folders (by Message-ID,
else by content). SQLite's planner chose the index that leads with the mailbox and read every
copy the mailbox held for each email, so a first sync of n emails cost O(n²). The new keys
lead with the mailbox, then the identity.
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_raw_messages_message_id", table_name="raw_messages")
    op.drop_index("ix_raw_messages_mailbox_id_folder_content_hash", table_name="raw_messages")
    op.create_index(
        "ix_raw_messages_mailbox_id_message_id", "raw_messages", ["mailbox_id", "message_id"]
    )
    op.create_index(
        "ix_raw_messages_mailbox_id_content_hash_folder",
        "raw_messages",
        ["mailbox_id", "content_hash", "folder"],
    )


def downgrade() -> None:
    op.drop_index("ix_raw_messages_mailbox_id_content_hash_folder", table_name="raw_messages")
    op.drop_index("ix_raw_messages_mailbox_id_message_id", table_name="raw_messages")
    op.create_index(
        "ix_raw_messages_mailbox_id_folder_content_hash",
        "raw_messages",
        ["mailbox_id", "folder", "content_hash"],
    )
    op.create_index("ix_raw_messages_message_id", "raw_messages", ["message_id"])
