"""Which response lines from an IMAP server tell of a change on their own (``news_in``), the
UIDs its VANISHED responses name (``vanished_uids``), and what the receiver installed on
aioimaplib's protocol hears of a stream cut into chunks anywhere."""

from __future__ import annotations

import asyncio

import pytest
from aioimaplib import aioimaplib
from hypothesis import given
from hypothesis import strategies as st

from tidings.adapters.imap.wire import (
    News,
    fetch_waits_for_data,
    install_receiver,
    news_in,
    vanished_uids,
)


@pytest.mark.parametrize(
    "line",
    [
        b"* 3 EXISTS",
        b"* 2 EXPUNGE",
        # A flag change made by another client, inside the answer to a SEARCH (RFC 3501
        # §7.4.2), with MODSEQ as CONDSTORE adds it (RFC 7162 §3.1.4) or without.
        b"* 1 FETCH (MODSEQ (3) FLAGS (\\Recent Tracked))",
        b"* 12 FETCH (FLAGS (\\Seen))",
        b"* 12 fetch (flags (\\Seen))",  # RFC 3501 §9: atoms are case-insensitive
        # Once QRESYNC is enabled expunges come as VANISHED (RFC 7162 §3.2.10).
        b"* VANISHED 4:6,9",
        b"* VANISHED 2",
    ],
)
def test_a_change_the_server_tells_of_on_its_own_is_noticed(line: bytes) -> None:
    assert news_in(line) is News.CHANGE


@pytest.mark.parametrize(
    "line",
    [
        b"* SEARCH 1 2 3",
        b"A1 OK Search completed",
        # Answers to UID commands carry the UID, wherever it stands in the list.
        b"* 1 FETCH (UID 4 MODSEQ (9))",
        b"* 2 FETCH (MODSEQ (10) UID 7)",
        b'* 1 FETCH (UID 1 INTERNALDATE "04-Dec-2026 02:34:36 +0000" BODY[] {40}',
        # The answer to Tidings' own UID FETCH … (CHANGEDSINCE n VANISHED).
        b"* VANISHED (EARLIER) 2,5:7",
        # Lines that only look alike.
        b"* OK [HIGHESTMODSEQ 7] Highest",
        b"* OK Still here",
        b"* 3 EXISTS now",
        b"* VANISHED soon",
        b"* FLAGS (\\Seen Tracked)",
        b"",
    ],
)
def test_answers_and_lookalikes_are_not_reports(line: bytes) -> None:
    assert news_in(line) is News.NONE


def test_with_qresync_a_flag_change_carries_the_uid_and_is_news_unless_flags_were_asked() -> None:
    # RFC 7162 §3.2.4: once QRESYNC is enabled every FETCH carries the UID.
    assert news_in(b"* 1 FETCH (UID 4 FLAGS (Tracked) MODSEQ (9))") is News.FLAGS


def test_vanished_responses_name_each_uid_of_their_sets() -> None:
    assert vanished_uids(b"* VANISHED (EARLIER) 2,5:7") == [2, 5, 6, 7]
    assert vanished_uids(b"* VANISHED 9") == [9]
    assert vanished_uids(b"* VANISHED 9:7") == [7, 8, 9]  # RFC 3501 §9: either order
    assert vanished_uids(b"* SEARCH 1 2") == []
    assert vanished_uids(b"* VANISHED 1,x") == []


class _Heard:
    """What the receiver reported."""

    def __init__(self) -> None:
        self.changes = 0
        self.vanished: list[list[int]] = []

    def changed(self) -> None:
        self.changes += 1


def _receiver() -> tuple[aioimaplib.IMAP4ClientProtocol, _Heard]:
    protocol = aioimaplib.IMAP4ClientProtocol(asyncio.get_running_loop())
    protocol.state = aioimaplib.SELECTED
    heard = _Heard()
    install_receiver(protocol, heard.changed, heard.vanished.append)
    return protocol, heard


# An email whose text holds lines that read as responses: literals are not responses.
_TEXT = b"Subject: demo\r\n\r\n* 3 EXISTS\r\n* VANISHED 5\r\n* 9 FETCH (FLAGS (x))\r\n"
_STREAM = (
    b"* 1 FETCH (UID 1 BODY[] {" + str(len(_TEXT)).encode() + b"}\r\n" + _TEXT + b")\r\n"
    b"* VANISHED (EARLIER) 41,43:44\r\n"
)


def test_a_stream_cut_anywhere_reads_message_text_as_text_and_each_line_once() -> None:
    async def feed(cut: int) -> _Heard:
        protocol, heard = _receiver()
        protocol.data_received(_STREAM[:cut])
        protocol.data_received(_STREAM[cut:])
        assert heard.changes == 0, cut
        assert heard.vanished == [[41, 43, 44]], cut
        protocol.data_received(b"* 4 EX")
        protocol.data_received(b"ISTS\r\n")
        return heard

    for cut in range(1, len(_STREAM)):
        assert asyncio.run(feed(cut)).changes == 1, cut


_FETCH_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                b"1 FETCH (UID 4 BODY[] {12}",
                b"2 FETCH (UID 5 FLAGS (\\Seen))",
                b"3 FETCH (UID 6 FLAGS (Tracked)",
                b")",
                b" INTERNALDATE x)",
                b"(",
            ]
        ),
        st.binary(max_size=8).map(bytearray),  # literal data, which aioimaplib keeps apart
    ),
    max_size=12,
)


@given(_FETCH_LINES)
def test_whether_a_fetch_waits_for_more_is_what_aioimaplib_says(lines: list[bytes]) -> None:

    async def both() -> tuple[bool, bool]:
        loop = asyncio.get_running_loop()
        command = aioimaplib.FetchCommand("A1", "1:*", "(UID FLAGS)", loop=loop)
        command._resp_lines = list(lines)
        return fetch_waits_for_data(command), aioimaplib.FetchCommand.wait_data(command)

    ours, theirs = asyncio.run(both())
    assert ours == theirs


def test_a_large_fetch_is_read_whole_through_the_receiver() -> None:
    # 2,000 FETCH responses to one command, with literals, cut into chunks: every message
    # reaches the command, and the receiver's wait for more data reads back only its own.
    messages = [b"Subject: %d\r\n\r\nbody (%d\r\n" % (n, n) for n in range(2000)]
    stream = b"".join(
        b"* %d FETCH (UID %d BODY[] {%d}\r\n%s)\r\n" % (n + 1, n + 1, len(raw), raw)
        for n, raw in enumerate(messages)
    )

    async def read() -> list[bytes]:
        protocol, _ = _receiver()
        command = aioimaplib.FetchCommand("A1", "1:*", "(BODY[])", loop=asyncio.get_running_loop())
        protocol.pending_async_commands["FETCH"] = command
        for first in range(0, len(stream), 4096):
            protocol.data_received(stream[first : first + 4096])
        assert "wait_data" in vars(command)  # the receiver's own, which reads back less
        return [bytes(line) for line in command.response.lines if isinstance(line, bytearray)]

    assert asyncio.run(read()) == messages
