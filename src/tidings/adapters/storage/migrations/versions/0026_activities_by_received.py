"""email activities are read newest received first, and found for a user, through indexes

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 17:40:00

The activity grid's default order (received, newest first, then id) had no index: each
page sorted every activity the view holds. And a user's grid first finds the ids of the
activities they reach (by owner, by mailbox, as a party): on PostgreSQL those indexes now
hold the ids too, so that no table row is read for them (SQLite's indexes hold the row id
already). Building them holds back new activities for as long as it takes (seconds per
million); workers wait, and lose nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

NAME = "ix_email_activities_received"
#: Indexes whose rows, on PostgreSQL, also hold the id looked for: name, table, key, id.
COVERING = (
    (
        "ix_email_activities_owner_kind_owner_id",
        "email_activities",
        ["owner_kind", "owner_id"],
        "id",
    ),
    ("ix_email_activities_mailbox_id", "email_activities", ["mailbox_id"], "id"),
    (
        "ix_activity_parties_party_kind_party_id",
        "activity_parties",
        ["party_kind", "party_id"],
        "activity_id",
    ),
)


def upgrade() -> None:
    received: sa.ColumnElement[object] = sa.func.coalesce(
        sa.column("received_at"), sa.column("created_at")
    )
    op.create_index(NAME, "email_activities", [received, sa.column("id")])
    if op.get_bind().dialect.name == "postgresql":
        for name, table, key, held in COVERING:
            op.drop_index(name, table_name=table)
            op.create_index(name, table, key, postgresql_include=[held])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, table, key, _ in COVERING:
            op.drop_index(name, table_name=table)
            op.create_index(name, table, key)
    op.drop_index(NAME, table_name="email_activities")
