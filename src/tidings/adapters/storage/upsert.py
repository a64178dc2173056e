"""Insert rows, or update the ones whose key is taken, in one statement on either database."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Executable, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert


def upsert(
    connection: Connection, table: Table, key: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Each row inserted, or written over the row with its ``key`` columns' values.

    One statement (executed for many rows at once) rather than an update and then an insert
    per row: a batch of many folders' cursors costs one round trip, and two processes
    writing the same key never collide between the two halves.
    """
    if not rows:
        return
    columns = tuple(name for name in rows[0] if name not in key)
    statement = _statement(connection.dialect.name, table, tuple(key), columns)
    connection.execute(statement, list(rows))


@functools.cache
def _statement(
    dialect: str, table: Table, key: tuple[str, ...], columns: tuple[str, ...]
) -> Executable:
    """Built once for each table and set of columns (a handful in all): building the
    statement, its ``excluded`` alias above all, cost more than running it for a few rows."""
    insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert_(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c[name] for name in key],
        set_={name: statement.excluded[name] for name in columns},
    )
