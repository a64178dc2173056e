"""The tracked category: its IMAP keyword, which folders keep it, what a change means, and
how flag responses read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tidings.adapters.imap.flags import parse_flag_fetch, parse_permanent_flags, uid_set
from tidings.domain.errors import ValidationError
from tidings.domain.settings import EmailConfiguration
from tidings.domain.tracked_category import (
    CategoryChange,
    CategoryMark,
    FlagState,
    category_change,
    check_category,
    has_keyword,
    imap_keyword,
    keyword_allowed,
)

NOW = datetime(2026, 12, 3, tzinfo=UTC)
_ATOM_SPECIALS = set('(){ %*"\\]')


def test_the_default_category_maps_to_an_imap_keyword_with_underscores() -> None:
    config = EmailConfiguration()
    assert (config.tracked_category, config.tracked_keyword) == (
        "Tracked to Tidings",
        "Tracked_to_Tidings",
    )


@given(st.text(min_size=1, max_size=50))
def test_every_category_maps_to_a_valid_imap_atom(name: str) -> None:
    keyword = imap_keyword(name)
    assert keyword
    assert all(" " < c < "\x7f" and c not in _ATOM_SPECIALS for c in keyword)
    assert not keyword.startswith("\\")


def test_a_category_with_imap_specials_keeps_its_other_characters() -> None:
    assert imap_keyword('CRM (tracked) "100%"*') == "CRM__tracked___100___"
    assert imap_keyword("$TrackedToTidings") == "$TrackedToTidings"


@pytest.mark.parametrize("name", ["", "   ", "x" * 51, "a,b", "bell\x07"])
def test_a_category_name_that_cannot_be_used_is_refused(name: str) -> None:
    with pytest.raises(ValidationError):
        check_category(name)


def test_keywords_compare_without_case() -> None:
    assert has_keyword({"\\Seen", "tracked_TO_tidings"}, "Tracked_to_Tidings")


def test_a_folder_keeps_a_keyword_it_lists_or_allows_new_ones_for() -> None:
    assert keyword_allowed(frozenset({"\\Seen", "\\*"}), "Tracked_to_Tidings")
    assert keyword_allowed(frozenset({"\\Seen", "Tracked_to_Tidings"}), "tracked_to_tidings")
    assert not keyword_allowed(frozenset({"\\Seen", "\\Deleted"}), "Tracked_to_Tidings")
    assert not keyword_allowed(None, "Tracked_to_Tidings")


def test_only_a_change_from_the_mark_counts() -> None:
    present = CategoryMark(1, True, NOW)
    absent = CategoryMark(1, False, NOW)
    assert category_change(None, True) is CategoryChange.ADDED
    assert category_change(None, False) is CategoryChange.NONE  # never seen: not "removed"
    assert category_change(absent, True) is CategoryChange.ADDED
    assert category_change(present, False) is CategoryChange.REMOVED
    assert category_change(present, True) is CategoryChange.NONE


def test_permanentflags_are_read_from_select() -> None:
    lines = [
        b"FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
        b"OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Limited",
    ]
    assert parse_permanent_flags(lines) == frozenset(
        {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft", "\\*"}
    )
    assert parse_permanent_flags([b"2 EXISTS"]) is None


def test_a_changedsince_fetch_reads_uid_flags_and_modseq() -> None:
    lines = [
        b"1 FETCH (UID 4 FLAGS (\\Recent Tracked_to_Tidings) MODSEQ (9))",
        b"2 FETCH (UID 7 MODSEQ (12) FLAGS ())",
        b"3 FETCH (MODSEQ (13))",  # no FLAGS: said nothing of them
        b"Fetch completed",
    ]
    assert parse_flag_fetch(lines) == [
        FlagState(4, frozenset({"\\Recent", "Tracked_to_Tidings"}), 9),
        FlagState(7, frozenset(), 12),
    ]


def test_uid_sets_join_runs() -> None:
    assert uid_set([5, 1, 2, 3, 9, 10]) == "1:3,5,9:10"
    assert uid_set([4]) == "4"
