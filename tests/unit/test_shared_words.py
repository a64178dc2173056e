"""Words many connections hold alike (capabilities, permanent flags) are held once."""

from __future__ import annotations

import gc

from hypothesis import given
from hypothesis import strategies as st

from tidings.adapters.imap.flags import parse_permanent_flags
from tidings.adapters.imap.shared_words import _SHARED, shared


def test_equal_sets_of_words_are_one_object_whatever_their_order() -> None:
    first = shared(["IMAP4rev1", "IDLE", "CONDSTORE"])
    second = shared({"CONDSTORE", "IMAP4rev1", "IDLE"})

    assert first is second
    assert shared(["IMAP4rev1", "IDLE"]) is not first


def test_a_set_no_connection_holds_any_more_is_dropped() -> None:
    # A server that says different words each time must not grow the table for good.
    held = shared(["X-ONLY-HERE-1", "X-ONLY-HERE-2"])
    assert held in _SHARED.values()
    del held
    gc.collect()
    assert ("X-ONLY-HERE-1", "X-ONLY-HERE-2") not in _SHARED


def test_permanent_flags_of_two_folders_are_one_set() -> None:
    line = b"* OK [PERMANENTFLAGS (\\Answered \\Seen Tracked \\*)] Flags permitted."
    first = parse_permanent_flags([line])
    second = parse_permanent_flags([bytearray(line)])

    assert first == frozenset({"\\Answered", "\\Seen", "Tracked", "\\*"})
    assert first is second


@given(st.lists(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1)))
def test_the_shared_set_holds_exactly_the_words_given(words: list[str]) -> None:
    assert shared(words) == frozenset(words)
