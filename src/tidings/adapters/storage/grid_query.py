"""The SQL of every grid: a filtered statement sorted by a named column, one page of it,
and how many rows it has in all.

A grid repository builds one ``SELECT`` with its filters as ``WHERE`` conditions, then asks
this module for its rows and its count; any further condition (an access level's scope)
is one more ``where`` on that same statement, so rows and totals always agree.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, select

from tidings.domain.grid import PageRequest, Sort


def sorted_by(
    statement: Select[Any],
    columns: Mapping[str, ColumnElement[Any]],
    sort: Sort,
    tie_break: ColumnElement[Any],
    *,
    never_empty: Collection[str] = (),
) -> Select[Any]:
    """``statement`` ordered by the sort's column, then by ``tie_break`` the same way, so
    that equal values never swap places between two pages. Empty values sort last; a
    column ``never_empty`` names is sorted plainly, in the order an index of it gives."""
    column = columns[sort.column]
    if sort.column in never_empty:
        ordered = column.desc() if sort.descending else column.asc()
    else:
        ordered = column.desc().nulls_last() if sort.descending else column.asc().nulls_last()
    return statement.order_by(ordered, tie_break.desc() if sort.descending else tie_break.asc())


def one_page(statement: Select[Any], page: PageRequest) -> Select[Any]:
    return statement.limit(page.size).offset(page.offset)


def count_of(connection: Connection, statement: Select[Any]) -> int:
    """How many rows ``statement`` returns, counted by the database."""
    inner = statement.order_by(None).limit(None).offset(None).subquery()
    return int(connection.execute(select(func.count()).select_from(inner)).scalar_one())


def like_pattern(text: str) -> str:
    """``%text%`` for a case-insensitive LIKE, the text's own ``%`` and ``_`` literal."""
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: ColumnElement[Any], text: str) -> ColumnElement[bool]:
    """Whether ``column`` holds ``text``, ignoring case."""
    return func.lower(column).like(like_pattern(text), escape="\\")
