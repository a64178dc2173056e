"""Bounded statements: a list of values bound into ``IN (...)`` goes a chunk at a time.

PostgreSQL refuses a statement with more than 65,535 parameters, SQLite more than 32,766
(999 before 3.32), and one email can name more addresses or Message-IDs than that (a list
mail with 70,000 recipients, a thread with 10,000 References). Every repository that binds
a list of values of unbounded length binds it through ``chunks``: each statement then takes
at most ``MAX_VALUES`` of them, whatever the database and its build.

Bulk inserts of many rows (``execute(insert(...), [rows])``) need nothing: without
RETURNING they are an executemany, one row's parameters per execution; with RETURNING,
SQLAlchemy's "insertmanyvalues" pages them below 32,700 parameters per statement itself,
or below the SQLite library's own limit where it binds fewer (``database.make_engine``).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TypeVar

#: Values bound in one statement, beside its few other parameters: within the limit of
#: every database and build Tidings runs on, old SQLite's 999 included.
MAX_VALUES = 900

T = TypeVar("T")
K = TypeVar("K")


def chunks(values: Iterable[T], size: int = MAX_VALUES) -> Iterator[list[T]]:
    """``values`` in lists of at most ``size``, in order; nothing for no values."""
    iterator = iter(values)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


#: Groups (each its own ``key = ... AND value IN (...)``) joined by OR in one statement.
MAX_GROUPS = 50


def grouped(
    groups: Iterable[tuple[K, list[T]]], size: int = MAX_VALUES, most: int = MAX_GROUPS
) -> Iterator[list[tuple[K, list[T]]]]:
    """Groups of values packed into statements: each statement at most ``most`` groups and
    ``size`` values in all, a group larger than that split across statements. A batch of
    pushed email from many folders is then one statement, not one per folder."""
    taken: list[tuple[K, list[T]]] = []
    count = 0
    for key, values in groups:
        for chunk in chunks(values, size):
            if taken and (len(taken) == most or count + len(chunk) > size):
                yield taken
                taken, count = [], 0
            taken.append((key, chunk))
            count += len(chunk)
    if taken:
        yield taken
