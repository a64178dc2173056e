"""``column IN (values)`` as a statement whose text does not depend on how many values.

SQLAlchemy renders an ``IN`` list into the statement at each execution (an "expanding"
parameter): the text changes with the list's length, so each execution renders it again, and
PostgreSQL parses and plans each text anew. A profile of a worker at 100 pushed emails a
second found 7 % of the interpreter's time in that rendering. On PostgreSQL the list is
bound instead as one array (``column = ANY(:values)``): one text, rendered once, which
the driver prepares on the server after a few runs. SQLite has no arrays: it keeps ``IN``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ARRAY, ColumnElement, String, any_, bindparam
from sqlalchemy.types import TypeEngine


def among(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """``column`` is one of the values bound to ``name`` (a list)."""
    if dialect != "postgresql":
        return column.in_(bindparam(name, expanding=True))
    return column == any_(bindparam(name, type_=array_of(column.type)))


def among_values(column: ColumnElement[Any], values: Any, dialect: str) -> ColumnElement[bool]:
    """``column`` is one of ``values``, bound here (for a statement built at each call)."""
    if dialect != "postgresql":
        return column.in_(values)
    return column == any_(bindparam(None, list(values), type_=array_of(column.type)))


def array_of(element: TypeEngine[Any]) -> ARRAY[Any]:
    """The array type to bind a list of a column's values as. A plain ``VARCHAR(n)`` loses
    its length: the array is cast to its type explicitly, and an explicit cast to
    ``VARCHAR(n)`` cuts a longer value, which would then match a stored one it is not."""
    if type(element) is String and element.length is not None:
        return ARRAY(String())
    return ARRAY(element)
