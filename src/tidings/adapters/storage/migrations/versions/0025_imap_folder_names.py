"""IMAP folder names are kept as people read them, not in modified UTF-7

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-05 14:40:00

IMAP writes folder names in modified UTF-7 (RFC 3501 §5.1.3), and Tidings kept them so:
the folder picker offered "Entw&APw-rfe" for "Entwürfe", and a rule typed as "Entwürfe" named
no folder the server knew. Names are now kept as people read them (as the mail APIs give
them) and written in modified UTF-7 only on the wire. This brings the stored names of IMAP
mailboxes to that form; only names holding "&" can change. Where the new name is already
taken for the same mailbox in a table, that table's rows keep the old name.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from tidings.adapters.imap.folder_names import from_wire, to_wire

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

#: Every table that names a mailbox's folder, each with ``mailbox_id`` and ``folder``.
_FOLDER_TABLES = (
    "mailbox_alerts",
    "folder_rules",
    "folder_cursors",
    "folder_sync_states",
    "raw_messages",
    "raw_message_origins",
    "folder_departures",
)


def upgrade() -> None:
    _rename(from_wire)


def _rename(rename: Callable[[str], str]) -> None:
    connection = op.get_bind()
    mailboxes = sa.table("mailboxes", sa.column("id"), sa.column("profile_id"))
    profiles = sa.table("server_profiles", sa.column("id"), sa.column("kind"))
    imap = sa.select(mailboxes.c.id).join(profiles, profiles.c.id == mailboxes.c.profile_id)
    imap = imap.where(profiles.c.kind == "imap_smtp")
    for name in _FOLDER_TABLES:
        table = sa.table(name, sa.column("mailbox_id"), sa.column("folder"))
        c = table.c
        named = sa.select(c.mailbox_id, c.folder).distinct().where(c.mailbox_id.in_(imap))
        for mailbox_id, old in connection.execute(named).all():
            new = rename(old)
            if new == old:
                continue
            taken = sa.select(c.folder).where(c.mailbox_id == mailbox_id, c.folder == new)
            if connection.execute(taken.limit(1)).first() is not None:
                continue
            rows = sa.update(table).where(c.mailbox_id == mailbox_id, c.folder == old)
            connection.execute(rows.values(folder=new))


def downgrade() -> None:
    # An older version SELECTs a stored name as written: back to modified UTF-7.
    _rename(to_wire)
