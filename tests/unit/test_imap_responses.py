"""Parsing IMAP responses as aioimaplib hands them over: the wire, checked byte by byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tidings.adapters.imap.responses import (
    folder_with_attribute,
    imap_date,
    is_change,
    nil_bodies,
    parse_fetch,
    parse_list,
    parse_search,
    parse_select,
)
from tidings.domain.sync import (
    FolderCursor,
    FolderStatus,
    FolderSyncState,
    SyncMode,
    cursor_for,
    is_unchanged,
    mailbox_sync,
)

SELECT = [
    b"FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
    b"OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.",
    b"2 EXISTS",
    b"1 RECENT",
    b"OK [UIDVALIDITY 1795614891] UIDs valid",
    b"OK [UIDNEXT 3] Predicted next UID",
    b"OK [HIGHESTMODSEQ 7] Highest",
    b"[READ-WRITE] Select completed (0.001 + 0.000 secs).",
]


def test_select_gives_uidvalidity_uidnext_exists_and_modseq() -> None:
    # The cursor's anchor (UIDVALIDITY) and the folder's size come from SELECT.
    assert parse_select(SELECT) == FolderStatus(1795614891, 3, 2, 7)


def test_a_select_without_uidvalidity_is_refused() -> None:
    # Without UIDVALIDITY no UID can be trusted (RFC 3501 §2.3.1.1).
    with pytest.raises(ValueError, match="no UIDVALIDITY"):
        parse_select([b"2 EXISTS", b"Select completed"])


def test_search_gives_uids_in_ascending_order() -> None:
    assert parse_search([b"12 3 7", b"Search completed"]) == [3, 7, 12]
    assert parse_search([b"", b"Search completed"]) == []
    assert parse_search([]) == []


@pytest.mark.parametrize(
    ("lines", "uids"),
    [
        # The tagged answer's text is the last line: its numbers are no UIDs.
        ([b"NO 3 messages could not be searched"], []),
        ([b"OK [HIGHESTMODSEQ 12] 4 ms"], []),
        ([b"5", b"Search completed 2 ms"], [5]),
        # More than one SEARCH line: every one counts.
        ([b"4 9", b"2", b"Search completed"], [2, 4, 9]),
        # RFC 7162 §3.1.5: with CONDSTORE a search may end in (MODSEQ n).
        ([b"2 5 6 7 11 (MODSEQ 917162500)", b"Search completed"], [2, 5, 6, 7, 11]),
    ],
)
def test_a_search_reads_its_search_lines_and_never_the_answers_text(
    lines: list[bytes], uids: list[int]
) -> None:
    assert parse_search(lines) == uids


def test_fetch_pairs_each_literal_with_its_uid_and_internal_date() -> None:
    # A FETCH item spans three entries: head ending in {n}, the literal, then ")".
    lines = [
        b'1 FETCH (UID 10 INTERNALDATE "25-Nov-2026 13:54:51 +0100" BODY[] {5}',
        bytearray(b"hello"),
        b")",
        b"2 FETCH (BODY[] {3}",
        bytearray(b"bye"),
        b' UID 11 INTERNALDATE "01-Dec-2026 08:00:00 +0000")',
        b"Fetch completed (0.001 + 0.000 secs).",
    ]
    first, second = parse_fetch(lines)
    assert (first.uid, first.raw) == (10, b"hello")
    assert first.internal_date == datetime(2026, 11, 25, 12, 54, 51, tzinfo=UTC)
    assert (second.uid, second.raw, second.internal_date.utcoffset()) == (11, b"bye", timedelta(0))


def test_fetch_items_without_a_literal_are_skipped() -> None:
    # A FLAGS update is not a message.
    assert parse_fetch([b"3 FETCH (UID 4 FLAGS (\\Seen))", b"Fetch completed"]) == []


def test_a_body_sent_as_a_quoted_string_is_a_message_and_a_nil_body_is_none() -> None:
    # RFC 3501 §9: a body section is an nstring, a literal, a quoted string or NIL.
    lines = [
        b'1 FETCH (UID 7 INTERNALDATE "25-Nov-2026 13:54:51 +0100" BODY[] "")',
        b'2 FETCH (UID 8 BODY[] "Subject: \\"UID 99\\" \\\\o/")',
        b'3 FETCH (BODY[] "x" UID 9)',
        b'4 FETCH (UID 10 INTERNALDATE "25-Nov-2026 13:54:51 +0100" BODY[] NIL)',
        b"Fetch completed",
    ]
    found = parse_fetch(lines)
    assert [(m.uid, m.raw) for m in found] == [
        (7, b""),
        (8, b'Subject: "UID 99" \\o/'),
        (9, b"x"),
    ]
    assert found[0].internal_date is not None
    assert nil_bodies(lines) == [10]


def test_idle_pushes_that_matter_are_new_expunged_or_changed_mail() -> None:
    assert is_change([b"3 EXISTS", b"2 RECENT"])
    assert is_change([b"2 EXPUNGE"])
    assert is_change([b"VANISHED 7:9"])  # an expunge once QRESYNC is enabled
    assert not is_change([b"OK Still here"])
    assert not is_change("stop_wait_server_push")


def test_since_dates_are_written_as_imap_dates() -> None:
    moment = datetime(2026, 3, 7, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert imap_date(moment) == "07-Mar-2026"


def test_a_changed_uidvalidity_starts_the_folder_from_uid_one() -> None:
    # Same UIDVALIDITY: keep going from the stored cursor; another: start over.
    stored = FolderCursor(1, "INBOX", 100, last_uid=42)
    assert cursor_for(stored, 1, "INBOX", FolderStatus(100, 50, 9)) is stored
    assert cursor_for(stored, 1, "INBOX", FolderStatus(101, 2, 1)) == FolderCursor(1, "INBOX", 101)
    assert cursor_for(None, 1, "INBOX", FolderStatus(7, 1, 0)).last_uid == 0
    assert stored.advanced_to(40).last_uid == 42 and stored.advanced_to(50).last_uid == 50


def test_list_responses_give_each_folders_attributes_and_name() -> None:
    # Quoted names are unescaped, a literal name is read from the next entry (RFC 3501 §7.2.2).
    lines = [
        b'(\\HasNoChildren \\Sent) "/" "Sent Items"',
        b'(\\HasNoChildren) "/" INBOX',
        b"LIST (\\Trash) NIL {5}",
        bytearray(b'Tr"sh'),
        b"List completed (0.001 + 0.000 secs).",
    ]
    folders = parse_list(lines)
    assert [name for _, name in folders] == ["Sent Items", "INBOX", 'Tr"sh']
    assert folder_with_attribute(folders, "\\Sent") == "Sent Items"
    assert folder_with_attribute(folders, "\\Junk") is None


def test_list_responses_give_names_as_people_read_them() -> None:
    # Modified UTF-7 (RFC 3501 §5.1.3), quoted, atom or literal.
    lines = [
        b'(\\HasNoChildren \\Drafts) "/" "Entw&APw-rfe"',
        b'(\\HasNoChildren) "/" R&-D',
        b'(\\HasNoChildren) "/" {33}',
        bytearray(b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        b"List completed.",
    ]
    assert [name for _, name in parse_list(lines)] == [
        "Entwürfe",
        "R&D",
        "~peter/mail/台北/日本語",
    ]


def test_an_equal_highestmodseq_under_the_same_uidvalidity_means_nothing_changed() -> None:
    # RFC 7162: every change raises HIGHESTMODSEQ; without CONDSTORE nothing can be skipped.
    stored = FolderCursor(1, "INBOX", uidvalidity=7, last_uid=40, highest_modseq=90)
    assert is_unchanged(stored, FolderStatus(7, 41, 40, highest_modseq=90))
    assert not is_unchanged(stored, FolderStatus(7, 42, 41, highest_modseq=91))
    assert not is_unchanged(stored, FolderStatus(8, 41, 40, highest_modseq=90))
    assert not is_unchanged(None, FolderStatus(7, 41, 40, highest_modseq=90))
    without = FolderCursor(1, "INBOX", uidvalidity=7, last_uid=40)
    assert not is_unchanged(without, FolderStatus(7, 41, 40))


def test_a_mailbox_sync_adds_up_its_folders() -> None:
    # The least settled folder names the mode; backlogs and first-sync progress add up.
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    states = [
        FolderSyncState(1, "INBOX", SyncMode.IDLE, now, checked_at=now),
        FolderSyncState(
            1,
            "Projects",
            SyncMode.CATCHING_UP,
            now,
            checked_at=now - timedelta(minutes=5),
            backlog=30,
            first_sync_done=70,
            first_sync_total=100,
        ),
    ]
    sync = mailbox_sync([FolderCursor(1, "INBOX", 7, 40)], states)
    assert [f.folder for f in sync.folders] == ["INBOX", "Projects"]
    assert (sync.mode, sync.backlog, sync.first_sync) == (SyncMode.CATCHING_UP, 30, (70, 100))
    assert sync.last_sync == now - timedelta(minutes=5)
    assert mailbox_sync([], []).mode is None
    # A mailbox disabled since shows as such, whatever the worker last recorded.
    assert mailbox_sync([], states, syncing=False).mode is SyncMode.DISABLED
