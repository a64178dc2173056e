"""Which chunks from an IMAP server tell of a change on their own (``reports_change``), and
the UIDs its VANISHED responses name (``vanished_uids``)."""

from __future__ import annotations

import pytest

from tidings.adapters.imap.wire import install_receiver, reports_change, vanished_uids


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
        # Once QRESYNC is enabled expunges come as VANISHED (RFC 7162 §3.2.10).
        b"* VANISHED 4:6,9\r\n",
        b"* SEARCH 1\r\n* VANISHED 2\r\nA4 OK done\r\n",
    ],
)
def test_a_change_the_server_tells_of_on_its_own_is_noticed(chunk: bytes) -> None:
    assert reports_change(chunk)


@pytest.mark.parametrize(
    "chunk",
    [
        b"* SEARCH 1 2 3\r\nA1 OK Search completed\r\n",
        # Answers to UID commands carry the UID, wherever it stands in the list.
        b"* 1 FETCH (UID 4 MODSEQ (9))\r\n* 2 FETCH (MODSEQ (10) UID 7)\r\n",
        b'* 1 FETCH (UID 1 INTERNALDATE "04-Dec-2026 02:34:36 +0000" BODY[] {40}\r\n',
        # A message whose text mentions these words is not a response.
        b"Subject: 3 EXISTS in the FETCH (demo)\r\nthe 2 EXPUNGE rule and FETCH (FLAGS)\r\n",
        b"",
        # The answer to Tidings' own UID FETCH … (CHANGEDSINCE n VANISHED).
        b"* VANISHED (EARLIER) 2,5:7\r\nA5 OK Fetch completed\r\n",
    ],
)
def test_answers_and_message_text_are_not_reports(chunk: bytes) -> None:
    assert not reports_change(chunk)


def test_with_qresync_a_flag_change_carries_the_uid_and_is_news_unless_flags_were_asked() -> None:
    # RFC 7162 §3.2.4: once QRESYNC is enabled every FETCH carries the UID.
    chunk = b"* SEARCH 1\r\n* 1 FETCH (UID 4 FLAGS (Tracked) MODSEQ (9))\r\nA1 OK\r\n"
    assert reports_change(chunk)
    assert not reports_change(chunk, flags_asked=True)  # the flag round reads it


def test_vanished_responses_name_each_uid_of_their_sets() -> None:
    chunk = b"* VANISHED (EARLIER) 2,5:7\r\n* 1 FETCH (UID 3)\r\n* VANISHED 9\r\nA1 OK\r\n"
    assert vanished_uids(chunk) == [2, 5, 6, 7, 9]
    assert vanished_uids(b"* SEARCH 1 2\r\nA1 OK\r\n") == []


class _Protocol:
    """What ``install_receiver`` replaces and calls of aioimaplib's protocol."""

    def __init__(self) -> None:
        self.incomplete_line = b""
        self.current_command = None
        self.pending_sync_command = None
        self.pending_async_commands: dict[str, object] = {}
        self.lines: list[bytes] = []

    def data_received(self, data: bytes) -> None:  # pragma: no cover - replaced
        raise AssertionError("replaced by install_receiver")

    def _handle_responses(self, data: bytes, handler: object, command: object) -> None:
        self.lines.append(data)

    def _handle_line(self, line: bytes, command: object) -> None:  # pragma: no cover
        pass


def test_a_vanished_line_cut_between_two_chunks_is_read_once_whole() -> None:
    protocol = _Protocol()
    vanished: list[list[int]] = []
    install_receiver(protocol, lambda: None, vanished.append)  # type: ignore[arg-type]
    protocol.data_received(b"* 1 FETCH (UID 3)\r\n* VANISHED (EARL")
    protocol.data_received(b"IER) 41,43:44\r\nA1 OK\r\n")
    assert vanished == [[41, 43, 44]]
