"""What aioimaplib does with each chunk the socket delivers, made cheap enough for bulk fetches.

aioimaplib's ``data_received`` formats every chunk into a debug message, logged or not: for a
first sync that fetches hundreds of megabytes, that formatting costs as much as parsing.
The receiver installed here parses exactly as aioimaplib does, formatting only when its
debug log is on, and notes the changes the server reports that aioimaplib would drop.

Changes are read from the response lines aioimaplib's parser hands on, never from the raw
chunks: a chunk is mostly message literals, which hold no response (an email's text may well
read ``* 3 EXISTS``), and scanning every byte of them cost a first sync a fifth of its time.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from enum import Enum

from aioimaplib import aioimaplib

_library_log = logging.getLogger(aioimaplib.__name__)


def install_receiver(
    protocol: aioimaplib.IMAP4ClientProtocol,
    on_change: Callable[[], None],
    on_vanished: Callable[[list[int]], None] | None = None,
    on_count: Callable[[bytes, int], None] | None = None,
) -> None:
    """Replace ``protocol.data_received``; ``on_change`` is called on each change reported,
    ``on_vanished`` with the UIDs of each ``VANISHED`` response (which aioimaplib drops),
    ``on_count`` with each ``EXISTS`` or ``EXPUNGE`` and its number.

    aioimaplib drops untagged responses it cannot pair with a pending command (an EXISTS
    or a flag change in a SEARCH response, say), and the server never repeats them; missing
    one would leave new mail or a person's mark unseen until the next IDLE renewal.
    """
    original = protocol.data_received
    handle_line = protocol._handle_line

    def read_line(line: bytes, command: aioimaplib.Command | None) -> aioimaplib.Command | None:
        # Only untagged responses ("* …") can report; literals never reach a line handler.
        if line[:2] == b"* ":
            news = news_in(line)
            if news is News.CHANGE or (news is News.FLAGS and not flags_in_flight(protocol)):
                on_change()
            if on_vanished is not None and line[2:10] == b"VANISHED":
                uids = vanished_uids(line)
                if uids:
                    on_vanished(uids)
            if on_count is not None and (counted := message_count(line)) is not None:
                on_count(*counted)
        handled = handle_line(line, command)
        if type(handled) is aioimaplib.FetchCommand and "wait_data" not in vars(handled):
            handled.wait_data = functools.partial(fetch_waits_for_data, handled)
        return handled

    # aioimaplib's own data_received (with its debug log on) passes this handler too.
    protocol._handle_line = read_line

    def receive(data: bytes) -> None:
        if _library_log.isEnabledFor(logging.DEBUG):
            original(data)
            return
        try:  # aioimaplib's data_received, without its debug message
            protocol._handle_responses(
                protocol.incomplete_line + data, read_line, protocol.current_command
            )
            protocol.incomplete_line = b""
            protocol.current_command = None
        except aioimaplib.IncompleteRead as incomplete:
            protocol.current_command = incomplete.cmd
            protocol.incomplete_line = incomplete.data

    protocol.data_received = receive


def fetch_waits_for_data(command: aioimaplib.FetchCommand) -> bool:
    """aioimaplib's ``FetchCommand.wait_data`` (is the last FETCH response still open?),
    reading back only to that response. aioimaplib's own looks for it from the first line
    on every line, which makes a FETCH of n messages cost n² (10,000 flag changes read
    after a first sync: 50 million pattern matches)."""
    lines = command.response.lines
    start = 0
    for index in range(len(lines) - 1, -1, -1):
        line = lines[index]
        if isinstance(line, bytes) and aioimaplib.FetchCommand.FETCH_MESSAGE_DATA_RE.match(line):
            start = index
            break
    own = b"".join(line for line in lines[start:] if isinstance(line, bytes))
    return not aioimaplib.matched_parenthesis(own)


def message_count(line: bytes) -> tuple[bytes, int] | None:
    """(``EXISTS`` or ``EXPUNGE``, its number) of a ``* n EXISTS`` or ``* n EXPUNGE`` line
    (RFC 3501 §7.3.1, §7.4.1); None for any other line."""
    words = line.split()
    if len(words) != 3 or words[0] != b"*" or not words[1].isdigit():
        return None
    kind = words[2].upper()
    return (kind, int(words[1])) if kind in (b"EXISTS", b"EXPUNGE") else None


def vanished_uids(line: bytes) -> list[int]:
    """The UIDs a ``* VANISHED [(EARLIER)] uid-set`` response line names (RFC 7162 §3.2.10);
    none for any other line."""
    words = line.split()
    if len(words) < 3 or words[:2] != [b"*", b"VANISHED"]:
        return []
    uid_set = words[3] if words[2].upper() == b"(EARLIER)" and len(words) > 3 else words[2]
    found: list[int] = []
    for part in uid_set.split(b","):
        low, _, high = part.partition(b":")
        if not low.isdigit() or (high and not high.isdigit()):
            return []  # not a uid-set: not a VANISHED response
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


class News(Enum):
    """What one response line tells on its own."""

    NONE = "none"
    CHANGE = "change"
    #: A flag change that carries the UID: news unless the command in flight asked for FLAGS.
    FLAGS = "flags"


def news_in(line: bytes) -> News:
    """What one response line tells of new, expunged or changed mail on its own:
    EXISTS, EXPUNGE or VANISHED (RFC 7162 §3.2.10: what EXPUNGE becomes once QRESYNC is
    enabled), or a FETCH without a UID (RFC 3501 §7.4.2: a flag change made
    elsewhere, which Dovecot reports at the end of whatever command comes next, even of a
    ``UID FETCH … (CHANGEDSINCE n)`` whose own answer was computed before the change).
    Answers to Tidings' commands, all UID commands, carry the UID. Once QRESYNC is enabled
    every FETCH carries the UID (RFC 7162 §3.2.4): a FETCH with FLAGS is then news unless the
    command in flight asked for FLAGS, whose answers a flag round reads.
    ``VANISHED (EARLIER)`` answers Tidings' own ``UID FETCH … VANISHED``: not news of its own.

    A FETCH line is read up to its first literal (``{n}``), which is all a line handler gets.
    """
    words = line.split(None, 3)
    if len(words) < 3 or words[0] != b"*":
        return News.NONE
    second, third = words[1], words[2].upper()
    if second.upper() == b"VANISHED":
        earlier = third == b"(EARLIER)"
        return News.CHANGE if not earlier and vanished_uids(line) else News.NONE
    if not second.isdigit():
        return News.NONE
    if third in (b"EXISTS", b"EXPUNGE"):
        return News.CHANGE if len(words) == 3 else News.NONE
    if third != b"FETCH" or len(words) < 4 or not words[3].startswith(b"("):
        return News.NONE
    items = words[3].upper()
    if b"UID " not in items:
        return News.CHANGE
    return News.FLAGS if b"FLAGS (" in items else News.NONE
