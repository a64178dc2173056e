"""email activities are read newest received first through an index

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 17:40:00

The activity grid's default order (received, newest first, then id) had no index: each
page sorted every activity the view holds. Building it holds back new activities for as
long as it takes (about a second per million on PostgreSQL); workers wait, and lose nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

NAME = "ix_email_activities_received"


def upgrade() -> None:
    received: sa.ColumnElement[object] = sa.func.coalesce(
        sa.column("received_at"), sa.column("created_at")
    )
    op.create_index(NAME, "email_activities", [received, sa.column("id")])


def downgrade() -> None:
    op.drop_index(NAME, table_name="email_activities")
