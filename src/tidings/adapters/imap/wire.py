"""What aioimaplib does with each chunk the socket delivers, made cheap enough for bulk fetches.

aioimaplib's ``data_received`` formats every chunk into a debug message, logged or not: for a
first sync that fetches hundreds of megabytes, that formatting costs as much as parsing.
The receiver installed here parses exactly as aioimaplib does, formatting only when its
debug log is on, and notes the changes the server reports that aioimaplib would drop.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from aioimaplib import aioimaplib

# VANISHED (EARLIER) answers Tidings' own UID FETCH … VANISHED: not news of its own.
_UNSOLICITED = re.compile(rb"^\* (\d+ (EXISTS|EXPUNGE)|VANISHED [\d:,]+)\r?$", re.MULTILINE)
#: RFC 7162 §3.2.10: ``* VANISHED [(EARLIER)] uid-set`` (the UIDs of expunged messages).
_VANISHED = re.compile(rb"^\* VANISHED (?:\(EARLIER\) )?([\d:,]+)\r?$", re.MULTILINE)
_FETCH_LINE = re.compile(rb"\* \d+ FETCH \(", re.IGNORECASE)
_library_log = logging.getLogger(aioimaplib.__name__)


def install_receiver(
    protocol: aioimaplib.IMAP4ClientProtocol,
    on_change: Callable[[], None],
    on_vanished: Callable[[list[int]], None] | None = None,
) -> None:
    """Replace ``protocol.data_received``; ``on_change`` is called on each change reported,
    ``on_vanished`` with the UIDs of each ``VANISHED`` response (which aioimaplib drops).

    aioimaplib drops untagged responses it cannot pair with a pending command (an EXISTS
    or a flag change in a SEARCH response, say), and the server never repeats them; missing
    one would leave new mail or a person's mark unseen until the next IDLE renewal.
    """
    original = protocol.data_received
    # A VANISHED line cut between two chunks is read once whole.
    carry = b""

    def receive(data: bytes) -> None:
        nonlocal carry
        # A substring test first: the regular expression alone costs more than parsing.
        if reports_change(data, flags_in_flight(protocol)):
            on_change()
        if on_vanished is not None and (carry or b"VANISHED" in data):
            text = carry + data
            cut = text.rfind(b"\n") + 1
            carry = text[cut:] if text[cut:].startswith(b"* V") else b""
            uids = vanished_uids(text[:cut])
            if uids:
                on_vanished(uids)
        if _library_log.isEnabledFor(logging.DEBUG):
            original(data)
            return
        try:  # aioimaplib's data_received, without its debug message
            protocol._handle_responses(
                protocol.incomplete_line + data, protocol._handle_line, protocol.current_command
            )
            protocol.incomplete_line = b""
            protocol.current_command = None
        except aioimaplib.IncompleteRead as incomplete:
            protocol.current_command = incomplete.cmd
            protocol.incomplete_line = incomplete.data

    protocol.data_received = receive


def vanished_uids(data: bytes) -> list[int]:
    """The UIDs every ``VANISHED`` line of complete lines names. A message's own text could
    hold such a line too: what is found here is a candidate, checked before it counts."""
    found: list[int] = []
    for match in _VANISHED.finditer(data):
        for part in match.group(1).split(b","):
            low, _, high = part.partition(b":")
            if not low.isdigit() or (high and not high.isdigit()):
                continue
            first, last = sorted((int(low), int(high or low)))
            if last - first > 100_000:
                continue  # not a set a server reports of one folder
            found.extend(range(first, last + 1))
    return found


def flags_in_flight(protocol: aioimaplib.IMAP4ClientProtocol) -> bool:
    """Whether a command in flight asked for FLAGS. ``UID FETCH`` and ``UID STORE`` are
    aioimaplib's asynchronous commands, pending beside (not as) its one synchronous command:
    a flag round's own ``UID FETCH … (UID FLAGS)`` answers must not read as news, or every
    round that sees a flag would be followed by another round that reads it again."""
    pending = [protocol.pending_sync_command, *protocol.pending_async_commands.values()]
    return any(asks_flags(command) for command in pending)


def asks_flags(command: object) -> bool:
    """Whether the command in flight asked for FLAGS (its answers carry them)."""
    if command is None:
        return False
    words = [getattr(command, "name", ""), *getattr(command, "args", ())]
    return any("FLAGS" in str(word).upper() for word in words)


def reports_change(data: bytes, flags_asked: bool = False) -> bool:
    """Whether a chunk from the server tells of new, expunged or changed mail on its own:
    EXISTS, EXPUNGE or VANISHED (RFC 7162 §3.2.10: what EXPUNGE becomes once QRESYNC is
    enabled), or a FETCH without a UID (RFC 3501 §7.4.2: a flag change made
    elsewhere, which Dovecot reports at the end of whatever command comes next, even of a
    ``UID FETCH … (CHANGEDSINCE n)`` whose own answer was computed before the change).
    Answers to Tidings' commands, all UID commands, carry the UID. Once QRESYNC is enabled
    every FETCH carries the UID (RFC 7162 §3.2.4): a FETCH with FLAGS is then news unless the
    command in flight asked for FLAGS (``flags_asked``), whose answers a flag round reads."""
    # Substring tests first: a regular expression over every chunk costs more than parsing.
    if (b"EXISTS" in data or b"EXPUNGE" in data or b"VANISHED" in data) and _UNSOLICITED.search(
        data
    ):
        return True
    at = data.find(b" FETCH (")
    while at != -1:
        start = data.rfind(b"\n", 0, at) + 1
        end = data.find(b"\n", at)
        line = data[start:] if end == -1 else data[start:end]
        if _FETCH_LINE.match(line):
            upper = line.upper()
            if b"UID " not in upper or (b"FLAGS (" in upper and not flags_asked):
                return True
        at = data.find(b" FETCH (", at + 1)
    return False
