"""Holding a table of a test's database from outside Tidings, to freeze a process that is
about to write to it: on SQLite the whole database, on PostgreSQL the one table."""

from __future__ import annotations

from typing import Protocol

import psycopg
from sqlalchemy.engine import make_url


class HeldTable(Protocol):
    def release(self) -> None: ...


def postgres_conninfo(database_url: str) -> str:
    """The psycopg connection string of a SQLAlchemy PostgreSQL URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


class _SqliteHold:
    def __init__(self, path: str) -> None:
        import sqlite3

        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("BEGIN EXCLUSIVE")

    def release(self) -> None:
        self._conn.execute("ROLLBACK")
        self._conn.close()


class _PostgresHold:
    def __init__(self, database_url: str, table: str) -> None:
        self._conn = psycopg.connect(postgres_conninfo(database_url))
        # EXCLUSIVE: others may still read the table, but no one writes to it.
        self._conn.execute(f'LOCK TABLE "{table}" IN EXCLUSIVE MODE')  # type: ignore[arg-type]

    def release(self) -> None:
        self._conn.rollback()
        self._conn.close()


def hold_writes(database_url: str, table: str) -> HeldTable:
    """No one writes to ``table`` until ``release()``; a writer waits (a SQLite writer for
    up to its busy timeout, 30 s in Tidings)."""
    if database_url.startswith("sqlite:///"):
        return _SqliteHold(database_url.removeprefix("sqlite:///"))
    return _PostgresHold(database_url, table)


def slow_inserts(database_url: str, table: str, seconds_a_row: float) -> None:
    """Every row written to ``table`` of a PostgreSQL test database from now on takes
    ``seconds_a_row`` longer (a trigger that sleeps): a batch that commits in a blink
    commits in seconds, so that a test sees the state between two of them."""
    with psycopg.connect(postgres_conninfo(database_url), autocommit=True) as conn:
        conn.execute(
            "CREATE OR REPLACE FUNCTION tidings_test_slowly() RETURNS trigger AS $$ BEGIN "
            f"PERFORM pg_sleep({float(seconds_a_row)}); RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            f'CREATE TRIGGER tidings_test_slowly BEFORE INSERT ON "{table}" '  # type: ignore[arg-type]
            "FOR EACH ROW EXECUTE FUNCTION tidings_test_slowly()"
        )
