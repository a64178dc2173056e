"""conversations: References, conversation id and matched activity on email activities

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 23:50:00

The column that held Outlook's conversation index becomes ``conversation_index``;
``conversation_id`` now names the thread an activity belongs to. Existing activities are
given one: each starts its own conversation unless the correlation recorded on it finds the
activity it answered again (by In-Reply-To, conversation index, tracking token or subject),
in which case it joins that activity's conversation and records it as the match.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_CHUNK = 1000


def upgrade() -> None:
    op.drop_index("ix_email_activities_conversation_id", table_name="email_activities")
    op.execute("ALTER TABLE email_activities RENAME COLUMN conversation_id TO conversation_index")
    op.add_column("email_activities", sa.Column("reference_ids", sa.Text(), nullable=True))
    op.add_column(
        "email_activities", sa.Column("conversation_id", sa.String(length=32), nullable=True)
    )
    # No foreign key: SQLite cannot add a named one in place, and recreating the table
    # (batch mode) would cascade-delete its parties and attachments while foreign keys are
    # on. Deleting an activity clears the matches that name it.
    op.add_column("email_activities", sa.Column("matched_activity_id", sa.Integer(), nullable=True))
    op.create_index(
        "ix_email_activities_conversation_index", "email_activities", ["conversation_index"]
    )
    op.create_index("ix_email_activities_conversation_id", "email_activities", ["conversation_id"])
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_email_activities_conversation_id", table_name="email_activities")
    op.drop_index("ix_email_activities_conversation_index", table_name="email_activities")
    # Plain columns: SQLite (3.35+) drops them in place.
    op.drop_column("email_activities", "matched_activity_id")
    op.drop_column("email_activities", "conversation_id")
    op.drop_column("email_activities", "reference_ids")
    op.execute("ALTER TABLE email_activities RENAME COLUMN conversation_index TO conversation_id")
    op.create_index("ix_email_activities_conversation_id", "email_activities", ["conversation_id"])


# --- backfill ------------------------------------------------------------------------------
# Frozen copies of what the application does at the time of this revision, so that the
# migration means the same thing whatever the code becomes.

_A = sa.table(
    "email_activities",
    sa.column("id", sa.Integer),
    sa.column("identity", sa.String),
    sa.column("message_id", sa.String),
    sa.column("subject", sa.Text),
    sa.column("in_reply_to", sa.String),
    sa.column("conversation_index", sa.String),
    sa.column("conversation_id", sa.String),
    sa.column("subject_key", sa.String),
    sa.column("tracking_token", sa.String),
    sa.column("correlation", sa.String),
    sa.column("matched_activity_id", sa.Integer),
)


def _starting_conversation(identity: str) -> str:
    return hashlib.sha256(f"conversation:{identity}".encode()).hexdigest()[:32]


def _token_finder(connection: sa.Connection) -> Any:
    row = connection.execute(
        sa.text(
            "SELECT tracking_token_prefix, tracking_token_deployment_digits, "
            "tracking_token_user_digits, tracking_token_counter_digits "
            "FROM email_configuration ORDER BY id LIMIT 1"
        )
    ).first()
    prefix, digits = ("CRM:", 7) if row is None else (row[0], row[1] + row[2] + row[3])
    pattern = re.compile(rf"{re.escape(prefix)}\s?(\d{{{digits}}})(?!\d)", re.I)

    def find(subject: str) -> str | None:
        match = pattern.search(subject or "")
        return f"{prefix}{match.group(1)}" if match else None

    return find


def _earlier(connection: sa.Connection, before: int, condition: Any, newest: bool) -> Any:
    order = _A.c.id.desc() if newest else _A.c.id
    return connection.execute(
        sa.select(_A.c.id, _A.c.conversation_id)
        .where(condition, _A.c.id < before)
        .order_by(order)
        .limit(1)
    ).first()


def _matched(connection: sa.Connection, row: Any, find_token: Any) -> Any:
    """The earlier activity the recorded correlation method names, or None."""
    method = row.correlation
    tries: list[tuple[Any, bool]] = []
    if method in ("in_reply_to", "folder_rule") and row.in_reply_to:
        tries.append((_A.c.message_id == row.in_reply_to, False))
    if method in ("conversation_index", "folder_rule") and row.conversation_index:
        tries.append((_A.c.conversation_index == row.conversation_index, True))
    if method in ("tracking_token", "folder_rule") and (token := find_token(row.subject)):
        tries.append((_A.c.tracking_token == token, True))
    if method == "smart_matching":
        tries.append((_A.c.subject_key == row.subject_key, True))
    for condition, newest in tries:
        if (found := _earlier(connection, row.id, condition, newest)) is not None:
            return found
    return None


def _backfill(connection: sa.Connection) -> None:
    """Oldest first, so that an activity's match already has its conversation."""
    find_token = _token_finder(connection)
    last = 0
    while True:
        rows = connection.execute(
            sa.select(
                _A.c.id,
                _A.c.identity,
                _A.c.subject,
                _A.c.in_reply_to,
                _A.c.conversation_index,
                _A.c.subject_key,
                _A.c.correlation,
            )
            .where(_A.c.id > last)
            .order_by(_A.c.id)
            .limit(_CHUNK)
        ).all()
        if not rows:
            return
        chunk: dict[int, str] = {}  # this chunk's conversations, not written yet
        updates = []
        for row in rows:
            conversation, matched = _starting_conversation(row.identity), None
            if row.correlation != "none":
                found = _matched(connection, row, find_token)
                if found is not None:
                    matched = found.id
                    conversation = chunk.get(found.id) or found.conversation_id or conversation
            chunk[row.id] = conversation
            updates.append({"key": row.id, "conversation": conversation, "matched": matched})
        connection.execute(
            sa.update(_A)
            .where(_A.c.id == sa.bindparam("key"))
            .values(
                conversation_id=sa.bindparam("conversation"),
                matched_activity_id=sa.bindparam("matched"),
            ),
            updates,
        )
        last = rows[-1].id
