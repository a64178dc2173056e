"""Which chunks from an IMAP server tell of a change on their own (``reports_change``)."""

from __future__ import annotations

import pytest

from tidings.adapters.imap.wire import reports_change


@pytest.mark.parametrize(
    "chunk",
    [
        b"* 3 EXISTS\r\n",
        b"* SEARCH 1 2\r\n* 2 EXPUNGE\r\nA1 OK done\r\n",
        # A flag change made by another client, inside the answer to a SEARCH (RFC 3501
        # §7.4.2), with MODSEQ as CONDSTORE adds it (RFC 7162 §3.1.4) or without.
        b"* SEARCH 1\r\n* 1 FETCH (MODSEQ (3) FLAGS (\\Recent Tracked))\r\nA2 OK done\r\n",
        b"* 12 FETCH (FLAGS (\\Seen))\r\n",
        # Dovecot's report after a CHANGEDSINCE fetch computed before the change.
        b"* FLAGS (\\Seen Tracked)\r\n* 1 FETCH (MODSEQ (5) FLAGS (Tracked))\r\nA3 OK\r\n",
    ],
)
def test_a_change_the_server_tells_of_on_its_own_is_noticed(chunk: bytes) -> None:
    assert reports_change(chunk)


@pytest.mark.parametrize(
    "chunk",
    [
        b"* SEARCH 1 2 3\r\nA1 OK Search completed\r\n",
        # Answers to UID commands carry the UID, wherever it stands in the list.
        b"* 1 FETCH (UID 4 FLAGS () MODSEQ (9))\r\n* 2 FETCH (MODSEQ (10) UID 7 FLAGS ())\r\n",
        b'* 1 FETCH (UID 1 INTERNALDATE "04-Dec-2026 02:34:36 +0000" BODY[] {40}\r\n',
        # A message whose text mentions these words is not a response.
        b"Subject: 3 EXISTS in the FETCH (demo)\r\nthe 2 EXPUNGE rule and FETCH (FLAGS)\r\n",
        b"",
    ],
)
def test_answers_and_message_text_are_not_reports(chunk: bytes) -> None:
    assert not reports_change(chunk)
