"""Engines for the embedded default (SQLite, WAL) and PostgreSQL; whether a schema is current."""

from __future__ import annotations

import select
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError, StatementError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from tidings.adapters.storage.checkpoint import WalCheckpointer
from tidings.adapters.storage.errors import (
    missing_schema,
    refused_statement,
    short_database_error,
    without_statement,
)
from tidings.adapters.storage.schema_version import database_revision, head_revision
from tidings.domain.errors import StorageError, ValidationError


def make_engine(url: str, *, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """An engine for ``url`` whose pool keeps ``pool_size`` connections and opens up to
    ``max_overflow`` more at busy times; SQLite gets the folder it lives in and the pragmas
    it needs."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        event.listen(engine, "checkout", _ended_by_server)
        event.listen(engine, "handle_error", _storage_error)
        return engine
    in_memory = parsed.database in (None, "", ":memory:")
    # An in-memory database is one connection per thread (SingletonThreadPool), no pool.
    sizes = {} if in_memory else {"pool_size": pool_size, "max_overflow": max_overflow}
    engine = create_engine(url, connect_args={"timeout": 30}, **sizes)
    # A bulk insert with RETURNING is paged by SQLAlchemy below this many parameters per
    # statement; some SQLite builds bind fewer than its default (999 before 3.32).
    engine.dialect.insertmanyvalues_max_parameters = min(
        engine.dialect.insertmanyvalues_max_parameters, _sqlite_variable_limit()
    )
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        checkpointer = WalCheckpointer(Path(parsed.database))
        checkpointer.start()
        event.listen(engine, "engine_disposed", lambda _engine: checkpointer.stop())
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "handle_error", _storage_error)
    # pysqlite's own transaction handling defers BEGIN; take it over so that every unit of
    # work is one real transaction (SQLAlchemy's documented recipe for SQLite). IMMEDIATE
    # takes the write lock at the start: a deferred transaction that reads, then writes after
    # another connection committed, fails at once with SQLITE_BUSY instead of waiting.
    # A unit of work that only reads begins deferred: it takes no lock at all.
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _ended_by_server(
    dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection
) -> None:
    """Replace a pooled connection the server has ended (a restart, a failover, an
    operator's ``pg_terminate_backend``) before it is handed out.

    An idle connection in the pool is sent nothing unasked, so anything to read on its
    socket is the server's farewell (its FATAL message, or the socket's end). Looking costs
    a ``poll`` of the socket, where the pool's own pre-ping costs a ``SELECT 1`` round trip
    at every checkout: a few per pushed email, each waking a server process on a busy
    machine. Raising ``DisconnectionError`` here is SQLAlchemy's way for a checkout to have
    the pool discard the connection and hand out another.
    """
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("the connection was closed")
    # poll, not select: a worker holds thousands of sockets, past select's FD_SETSIZE.
    waiting = select.poll()
    waiting.register(dbapi_connection.fileno(), select.POLLIN)
    if waiting.poll(0):
        raise DisconnectionError("the database server ended the connection")


def _sqlite_begin(connection: Connection) -> None:
    read_only = connection.get_execution_options().get("tidings_read_only", False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _storage_error(context: ExceptionContext) -> BaseException | None:
    """Every database error leaves storage short, and the database failing is a
    ``StorageError``.

    The database itself failing (locked, gone, out of space) must not be taken for a problem
    of the data being written: it is a ``StorageError``, as is a table or column missing (a
    database not upgraded). A statement the database refuses for what it carries (a
    constraint, a value too long, a limit of the database) stays the error it is, so that
    the email that carried it is parked. Either way the error says what failed in a line
    (``errors.short_database_error``): SQLAlchemy's own text carries the whole statement
    and its parameters, which may be an email's 70,000 addresses, into every log, alert and
    parked email's error that quotes it.
    """
    if _out_of_range(context.original_exception):
        # The last line of defence: entry points bound what they take, but a number or date
        # beyond what a column holds is the caller's mistake, never a failure of the server.
        reason = str(context.original_exception).splitlines()[0][:200]
        return ValidationError(f"a value is beyond what the database can hold: {reason}")
    if _unstorable_text(context.original_exception):
        return ValidationError("a text is too long for the database or contains NUL")
    raised = context.sqlalchemy_exception
    if not isinstance(raised, StatementError):
        return None
    failing = isinstance(raised, OperationalError | InterfaceError)
    if (failing and not refused_statement(raised)) or missing_schema(raised):
        return StorageError(f"the database failed: {short_database_error(raised)}")
    return without_statement(raised)


def _sqlite_variable_limit() -> int:
    """How many variables one statement may bind in the SQLite library Python runs with."""
    connection = sqlite3.connect(":memory:")
    try:
        return int(connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))
    finally:
        connection.close()


def _unstorable_text(error: BaseException) -> bool:
    """PostgreSQL: a value longer than its column (22001), or NUL, which it cannot store."""
    cause = getattr(error, "orig", None) or error
    return getattr(cause, "sqlstate", None) == "22001" or "cannot contain NUL" in str(cause)


def _out_of_range(error: BaseException) -> bool:
    """SQLite's driver refuses ints beyond 64 bits; PostgreSQL says 22003 past a column's."""
    if isinstance(error, OverflowError):
        return True
    cause = getattr(error, "orig", None) or error
    return getattr(cause, "sqlstate", None) == "22003"


def _sqlite_pragmas(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in (
        # Only a new, empty database takes it. A raw email of ~35 KB spans 2 pages instead
        # of 9: writing email in bulk costs about a third of what it does with 4 KB pages.
        "page_size=32768",
        "journal_mode=WAL",  # readers never block the writer
        "synchronous=NORMAL",  # durable at each checkpoint; safe with WAL
        "foreign_keys=ON",
        "busy_timeout=30000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    # Checkpoints are a thread's own (``checkpoint``); should it fall behind, the commit that
    # finds 64 MB of log checkpoints, whatever the page size: raw email arrives in bulk.
    page_size = int(cursor.execute("PRAGMA page_size").fetchone()[0])
    cursor.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_BYTES // page_size}")
    cursor.close()


_CHECKPOINT_BYTES = 64 * 1024 * 1024


def describe_url(url: str) -> str:
    """The URL with any password hidden, for printing."""
    return make_url(url).render_as_string(hide_password=True)


def is_schema_current(engine: Engine) -> bool:
    """Whether the database of ``engine`` has every migration applied."""
    # A read: on SQLite it takes no write lock from a worker already running.
    with engine.connect().execution_options(tidings_read_only=True) as connection:
        return database_revision(connection) == head_revision()
