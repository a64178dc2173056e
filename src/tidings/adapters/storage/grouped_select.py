"""One statement for many groups of values: rows whose keys equal a group's and whose value
is among that group's list.

A batch of pushed email from many folders looks up rows by (folder, UIDs) for each folder:
as one statement per folder it costs a round trip and a statement's CPU each. So the groups
go in one statement, in a shape that stays an index probe per group on either database:

* on SQLite, ``(k1 = :k1_0 AND v IN :v_0) OR (...)``: its MULTI-INDEX OR probes the index
  once per group, where a row-value ``IN`` would scan the table;
* on PostgreSQL, a join to the wanted rows, bound as one array per column and unnested
  (``JOIN unnest(:k1, ..., :v) AS wanted(k1, ..., v) ON ...``): one statement text for
  any number of groups. An ``OR`` of one branch per group made each number of groups a
  statement of its own, compiled, cached and prepared apart: a worker following a
  thousand mailboxes held some seventy of each, and their expression trees, a thousand
  objects each, lengthened every full pass of the garbage collector, which stops
  everything while it runs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Select, Table, and_, bindparam, column, func, or_, select

from tidings.adapters.storage.among import among, array_of
from tidings.adapters.storage.chunking import chunks, grouped


@functools.lru_cache(maxsize=1024)
def by_groups(
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    values: str,
    groups: int,
    dialect: str,
) -> Select[Any]:
    """``columns`` of the rows matching any of the groups ``grouped_params`` binds (on
    SQLite ``groups`` of them), each its ``keys`` equal and its ``values`` among a list,
    ordered by the first column. Built once per query and database (and on SQLite number
    of groups, up to ``MAX_GROUPS``), all held."""
    c = table.c
    if dialect == "postgresql":
        names = (*keys, values)
        wanted = (
            func.unnest(*(bindparam(_array(name), type_=array_of(c[name].type)) for name in names))
            .table_valued(*(column(name, c[name].type) for name in names))
            .render_derived(name="wanted")
        )
        return (
            select(*(c[name] for name in columns))
            .join_from(table, wanted, and_(*(c[name] == wanted.c[name] for name in names)))
            .order_by(c[columns[0]])
        )
    return (
        select(*(c[name] for name in columns))
        .where(
            or_(
                *(
                    and_(
                        *(c[key] == bindparam(f"{key}_{n}") for key in keys),
                        among(c[values], f"{values}_{n}", dialect),
                    )
                    for n in range(groups)
                )
            )
        )
        .order_by(c[columns[0]])
    )


def grouped_params(
    groups: Iterable[tuple[Any, list[Any]]], keys: tuple[str, ...], values: str, dialect: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    """For each statement ``groups`` need: the number of groups to build it with
    (``by_groups``) and the parameters it binds. On PostgreSQL one row a value, a column
    an array, a statement per ``MAX_VALUES`` rows (its number of groups is always 0); on
    SQLite as ``chunking.grouped`` packs them."""
    if dialect == "postgresql":
        rows = ((key, value) for key, chunk in groups for value in chunk)
        for part in chunks(rows):
            params = {_array(name): [key[i] for key, _ in part] for i, name in enumerate(keys)}
            params[_array(values)] = [value for _, value in part]
            yield 0, params
        return
    for part in grouped(groups):
        params = {}
        for n, (key, chunk) in enumerate(part):
            params |= {f"{name}_{n}": value for name, value in zip(keys, key, strict=True)}
            params[f"{values}_{n}"] = chunk
        yield len(part), params


def _array(name: str) -> str:
    return f"{name}_wanted"
