"""The grid's pure values: reading sort and page leniently, ranges, and CSV cells that no
spreadsheet runs."""

from __future__ import annotations

from tidings.domain.grid import (
    MAILBOX_COLUMNS,
    MAILBOX_DEFAULT_SORT,
    GridPage,
    PageRequest,
    Sort,
    csv_cell,
    last_page,
    parse_page,
    parse_sort,
)


def test_a_sort_names_a_known_column_with_an_optional_minus_for_descending() -> None:
    assert parse_sort("-owner", MAILBOX_COLUMNS, MAILBOX_DEFAULT_SORT) == (
        Sort("owner", descending=True),
        None,
    )
    assert parse_sort("", MAILBOX_COLUMNS, MAILBOX_DEFAULT_SORT) == (MAILBOX_DEFAULT_SORT, None)
    sort, problem = parse_sort("-password_hash", MAILBOX_COLUMNS, MAILBOX_DEFAULT_SORT)
    assert sort == MAILBOX_DEFAULT_SORT
    assert problem == "cannot sort by 'password_hash'; sorted by address instead"


def test_clicking_the_sorted_header_reverses_it_and_another_header_sorts_ascending() -> None:
    assert Sort("address").toggled("address") == Sort("address", descending=True)
    assert Sort("address", descending=True).toggled("owner") == Sort("owner")
    assert Sort("owner", descending=True).token == "-owner"


def test_pages_and_sizes_that_are_not_offered_fall_back_with_a_message() -> None:
    assert parse_page("3", "100") == (PageRequest(3, 100), None)
    assert parse_page(None, None) == (PageRequest(1, 50), None)
    page, problem = parse_page("0", "51")
    assert page == PageRequest(1, 50)
    assert problem == "no page '0'; showing the first; page size must be one of 25, 50, 100, 250"
    assert parse_page("99999999999999999999", None)[0] == PageRequest(1, 50)


def test_a_page_knows_its_range_and_a_page_past_the_end_becomes_the_last() -> None:
    shown = GridPage(list(range(12)), 512, PageRequest(11, 50))
    assert (shown.first, shown.last, shown.pages) == (501, 512, 11)
    assert GridPage([], 0, PageRequest()).first == 0
    assert last_page(PageRequest(40, 50), 512) == PageRequest(11, 50)
    assert last_page(PageRequest(2, 50), 0) == PageRequest(1, 50)


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted_as_text() -> None:
    for formula in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\r=x"):
        assert csv_cell(formula) == "'" + formula
    assert csv_cell("Quote for 500 seats") == "Quote for 500 seats"
    assert csv_cell(None) == ""
    assert csv_cell(42) == "42"
