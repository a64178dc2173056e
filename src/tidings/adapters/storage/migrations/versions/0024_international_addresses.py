"""stored addresses with an international domain take its Unicode form

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 12:10:00

An address was stored as written, lower-cased: ``maria@xn--bcher-kva.example`` (as every
ASCII-only message writes it) and ``maria@bücher.example`` (as a person types it) were two
addresses, so email from the one never reached the contact saved with the other. Addresses
are now stored and compared with the domain in Unicode (``normalize_address``); this brings
the stored ones to that form. Only addresses holding ``xn--`` or a non-ASCII character can
change. Where the new form is already taken in a column that must be unique (two users, two
mailboxes), the row is left as it was; a record's second entry for one address is dropped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tidings.domain.records import normalize_address

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

#: (table, address column, unique) of every address Tidings stores; each has an ``id``.
_ADDRESSES = [
    ("users", "email", True),
    ("queues", "email", True),
    ("mailboxes", "address", True),
    ("email_configuration", "tracking_address", False),
    *[
        (table, f"emailaddress{n}", False)
        for table in ("accounts", "contacts", "leads")
        for n in (1, 2, 3)
    ],
    ("activity_parties", "address", False),
]


def upgrade() -> None:
    connection = op.get_bind()
    for name, column, unique in _ADDRESSES:
        _renormalize(connection, sa.table(name, sa.column("id"), sa.column(column)), column, unique)
    _renormalize_record_addresses(connection)


def downgrade() -> None:
    # Either form was accepted before: the Unicode one stays.
    pass


def _may_change(connection: sa.Connection, column: sa.ColumnClause[str]) -> sa.ColumnElement[bool]:
    """Rows whose address holds an A-label or a character beyond ASCII."""
    if connection.dialect.name == "postgresql":
        beyond_ascii = sa.func.octet_length(column) != sa.func.char_length(column)
    else:
        beyond_ascii = sa.func.length(sa.cast(column, sa.LargeBinary)) != sa.func.length(column)
    return sa.or_(column.like("%xn--%"), beyond_ascii)


def _renormalize(connection: sa.Connection, table: sa.TableClause, name: str, unique: bool) -> None:
    column = table.c[name]
    rows = connection.execute(sa.select(table.c.id, column).where(_may_change(connection, column)))
    for key, old in rows.all():
        new = normalize_address(old)
        if new == old:
            continue
        if unique and connection.execute(sa.select(table.c.id).where(column == new)).first():
            continue
        connection.execute(sa.update(table).where(table.c.id == key).values({name: new}))


def _renormalize_record_addresses(connection: sa.Connection) -> None:
    table = sa.table(
        "record_addresses", sa.column("address"), sa.column("record_kind"), sa.column("record_id")
    )
    c = table.c
    rows = connection.execute(
        sa.select(c.address, c.record_kind, c.record_id).where(_may_change(connection, c.address))
    )
    for old, kind, record_id in rows.all():
        new = normalize_address(old)
        if new == old:
            continue
        same_record = sa.and_(c.record_kind == kind, c.record_id == record_id)
        this_row = sa.and_(same_record, c.address == old)
        if connection.execute(sa.select(c.address).where(same_record, c.address == new)).first():
            connection.execute(sa.delete(table).where(this_row))
        else:
            connection.execute(sa.update(table).where(this_row).values(address=new))
