"""email written in the CRM: drafts' replies, idempotency keys, the Sent-folder copy

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 23:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sent_copy", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("copy_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index(batch_op.f("ix_outbox_sent_copy"), ["sent_copy"], unique=False)
    op.create_table(
        "email_compositions",
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("original_id", sa.Integer(), nullable=True),
        sa.Column("mode", sa.String(length=32), nullable=True),
        sa.Column("references", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["email_activities.id"],
            name=op.f("fk_email_compositions_activity_id_email_activities"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["original_id"],
            ["email_activities.id"],
            name=op.f("fk_email_compositions_original_id_email_activities"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_email_compositions_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("activity_id", name=op.f("pk_email_compositions")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("activity_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_idempotency_keys_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["email_activities.id"],
            name=op.f("fk_idempotency_keys_activity_id_email_activities"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "operation", "key", name=op.f("pk_idempotency_keys")),
    )
    # The System Administrator role holds every privilege, the new one included.
    op.execute(
        "INSERT INTO role_privileges (role_id, privilege) "
        "SELECT id, 'send_as_queue' FROM security_roles WHERE name = 'System Administrator' "
        "AND id NOT IN (SELECT role_id FROM role_privileges WHERE privilege = 'send_as_queue')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM role_privileges WHERE privilege = 'send_as_queue'")
    op.drop_table("idempotency_keys")
    op.drop_table("email_compositions")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_sent_copy"))
        batch_op.drop_column("copy_attempts")
        batch_op.drop_column("sent_copy")
