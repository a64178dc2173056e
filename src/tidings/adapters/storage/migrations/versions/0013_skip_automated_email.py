"""skipping automated email is an organization setting

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 23:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("email_configuration") as batch:
        batch.add_column(
            sa.Column(
                "skip_automated_email", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("email_configuration") as batch:
        batch.drop_column("skip_automated_email")
