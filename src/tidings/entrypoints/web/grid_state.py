"""A grid's state as the console's URLs carry it: filters, sort, page and page size.

Everything a grid shows comes from its query string, so a view can be bookmarked, saved,
exported or acted on as a whole. Values the console cannot use are dropped with a message
beside the grid rather than an error page: a stale link still opens.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import Enum
from typing import TypeVar
from urllib.parse import urlencode

from tidings.domain.grid import (
    DEFAULT_PAGE_SIZE,
    PAGE_SIZES,
    PageRequest,
    Sort,
    parse_page,
    parse_sort,
)
from tidings.domain.records import RecordKind, RecordRef
from tidings.entrypoints.web.params import MAX_ID

E = TypeVar("E", bound=Enum)

#: Parameters every grid reads besides its filters.
PAGING = ("sort", "page", "size")


@dataclass
class GridState:
    """The grid's own parameters (nothing else from the URL) and what they mean."""

    path: str
    params: dict[str, str]
    sort: Sort
    page: PageRequest
    problems: list[str] = field(default_factory=list)
    page_sizes: tuple[int, ...] = PAGE_SIZES

    def link(self, **changes: str | int | None) -> str:
        """This grid's URL with some parameters changed (``None`` drops one)."""
        merged: dict[str, str] = dict(self.params)
        for name, value in changes.items():
            if value is None or value == "":
                merged.pop(name, None)
            else:
                merged[name] = str(value)
        return self.path + ("?" + urlencode(merged) if merged else "")

    def sort_link(self, column: str) -> str:
        return self.link(sort=self.sort.toggled(column).token, page=None)

    def sorted_as(self, column: str) -> str:
        """``aria-sort`` of a column header."""
        if column != self.sort.column:
            return "none"
        return "descending" if self.sort.descending else "ascending"

    def page_link(self, number: int) -> str:
        return self.link(page=number if number > 1 else None)

    @property
    def view_query(self) -> str:
        """The view without its page: what is saved, exported or acted on."""
        return urlencode({k: v for k, v in self.params.items() if k != "page"})

    def value(self, name: str) -> str:
        return self.params.get(name, "")


def read_grid(
    path: str,
    query: Mapping[str, str],
    filters: Collection[str],
    columns: Collection[str],
    default_sort: Sort,
) -> GridState:
    """The grid state of ``query``: only ``filters`` and the paging parameters are kept."""
    kept = {name: query[name][:200] for name in (*filters, *PAGING) if query.get(name, "").strip()}
    sort, sort_problem = parse_sort(kept.get("sort"), columns, default_sort)
    page, page_problem = parse_page(kept.get("page"), kept.get("size"))
    problems = [p for p in (sort_problem, page_problem) if p]
    # Links carry what is shown, not what was asked for.
    kept.pop("sort", None)
    kept.pop("page", None)
    kept.pop("size", None)
    if sort != default_sort:
        kept["sort"] = sort.token
    if page.number > 1:
        kept["page"] = str(page.number)
    if "size" in query and page.size != DEFAULT_PAGE_SIZE:
        kept["size"] = str(page.size)
    return GridState(path, kept, sort, page, problems)


def _int(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


def enum_param(state: GridState, name: str, kind: type[E], label: str) -> E | None:
    """A filter naming one value of ``kind``; an unknown one is dropped with a message."""
    text = state.params.get(name)
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        state.problems.append(f"unknown {label} {text[:40]!r}; the filter is not applied")
        state.params.pop(name)
        return None


def id_param(state: GridState, name: str, label: str) -> int | None:
    text = state.params.get(name)
    if text is None:
        return None
    number = _int(text)
    if number is None or not 1 <= number <= MAX_ID:
        state.problems.append(f"no {label} {text[:40]!r}; the filter is not applied")
        state.params.pop(name)
        return None
    return number


def owner_param(state: GridState, me: RecordRef) -> RecordRef | None:
    """``me``, ``user:ID`` or ``queue:ID``."""
    text = state.params.get("owner")
    if text is None:
        return None
    if text == "me":
        return me
    try:
        ref = RecordRef.parse(text)
    except ValueError:
        ref = None
    if ref is None or ref.kind not in (RecordKind.USER, RecordKind.QUEUE) or ref.id < 1:
        state.problems.append(f"no owner {text[:40]!r}; the filter is not applied")
        state.params.pop("owner")
        return None
    return ref


def date_param(state: GridState, name: str, label: str) -> date | None:
    text = state.params.get(name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        state.problems.append(f"{label}: {text[:40]!r} is not a date (YYYY-MM-DD)")
        state.params.pop(name)
        return None
