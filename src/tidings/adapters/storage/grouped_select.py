"""One statement for many groups of values: ``(k1 = :k1_0 AND v IN :v_0) OR (...)``.

A batch of pushed email from many folders looks up rows by (folder, UIDs) for each folder:
as one statement per folder it costs a round trip and a statement's CPU each. Grouped,
each group is still an index probe on either database (SQLite's MULTI-INDEX OR,
PostgreSQL's BitmapOr), where a row-value ``IN`` would scan the table on SQLite.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Select, Table, and_, bindparam, or_, select

from tidings.adapters.storage.among import among
from tidings.adapters.storage.chunking import grouped


@functools.lru_cache(maxsize=1024)
def by_groups(
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    values: str,
    groups: int,
    dialect: str,
) -> Select[Any]:
    """``columns`` of the rows matching any of ``groups`` groups, each its ``keys`` equal
    and its ``values`` among a list, ordered by the first column. Built once per query,
    number of groups and database: a few queries of up to ``MAX_GROUPS`` groups each, all
    held."""
    c = table.c
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
    groups: Iterable[tuple[Any, list[Any]]], keys: tuple[str, ...], values: str
) -> Iterator[tuple[int, dict[str, Any]]]:
    """For each statement ``groups`` pack into (``chunking.grouped``): its number of groups
    and the parameters ``by_groups`` binds."""
    for part in grouped(groups):
        params: dict[str, Any] = {}
        for n, (key, chunk) in enumerate(part):
            params |= {f"{name}_{n}": value for name, value in zip(keys, key, strict=True)}
            params[f"{values}_{n}"] = chunk
        yield len(part), params
