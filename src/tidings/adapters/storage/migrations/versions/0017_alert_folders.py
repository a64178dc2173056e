"""the folder whose sync raised an alert

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: alerts about the whole mailbox (Test & Enable, sending) name no folder.
    with op.batch_alter_table("mailbox_alerts") as batch:
        batch.add_column(sa.Column("folder", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mailbox_alerts") as batch:
        batch.drop_column("folder")
