"""Database errors made short at the storage edge, and told apart by who must act.

SQLAlchemy's error text carries the whole statement and its parameters (``[SQL: ...]``,
``[parameters: ...]``): for a lookup of an email's addresses that is every address. Errors
leave storage without them (``without_statement``) and are described in one line
(``short_database_error``). ``refused_statement`` tells a statement the database refuses
for what it carries (too many parameters, a value too big for an index) from the database
failing: the first is the data's problem, the second the operator's.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, StatementError

from tidings.domain.error_text import MAX_ERROR_TEXT, brief, first_line

#: PostgreSQL's class 54, "program limit exceeded": index row too big, statement too complex,
#: too many columns or arguments.
_PROGRAM_LIMIT_SQLSTATE = "54"
#: The first line of driver errors that refuse a statement for its size (SQLite has no
#: SQLSTATE; psycopg refuses too many parameters before sending anything).
_REFUSALS = (
    "too many sql variables",
    "string or blob too big",
    "too many columns",
    "too many terms",
    "expression tree is too large",
    "number of parameters must be between",
    "index row size",
    "index row requires",
)


def driver_error(error: BaseException) -> BaseException:
    """The driver's own exception inside a SQLAlchemy one, else ``error`` itself."""
    orig = getattr(error, "orig", None)
    return orig if isinstance(orig, BaseException) else error


def short_database_error(error: BaseException, limit: int = MAX_ERROR_TEXT) -> str:
    """The driver's exception class and the first line of its message."""
    return brief(driver_error(error), limit)


def refused_statement(error: StatementError) -> bool:
    """Whether the database refused this statement for its size or its values, rather than
    failing itself (gone, locked, out of space)."""
    orig = driver_error(error)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate.startswith(_PROGRAM_LIMIT_SQLSTATE):
        return True
    if getattr(orig, "sqlite_errorname", None) == "SQLITE_TOOBIG":
        return True
    text = first_line(str(orig), 1000).lower()
    return any(refusal in text for refusal in _REFUSALS)


#: PostgreSQL's undefined table and undefined column: the schema is not what Tidings
#: expects (a database not upgraded), which no email can be blamed for.
_SCHEMA_SQLSTATES = ("42P01", "42703")


def missing_schema(error: StatementError) -> bool:
    """Whether the statement failed because a table or column does not exist."""
    orig = driver_error(error)
    return getattr(orig, "sqlstate", None) in _SCHEMA_SQLSTATES


def without_statement(error: StatementError) -> StatementError:
    """The same error (same class, same driver exception) without the statement and its
    parameters, its message cut to its first line."""
    copy = type(error).__new__(type(error))
    message = first_line(error.args[0] if error.args else str(error.orig), MAX_ERROR_TEXT)
    StatementError.__init__(copy, message, None, None, error.orig, code=error.code)
    if isinstance(error, DBAPIError):
        copy.connection_invalidated = error.connection_invalidated
    copy.detail = []
    return copy
