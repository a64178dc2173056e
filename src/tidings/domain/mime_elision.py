"""Parsing a whole message without the parser walking its long base64 bodies line by line.

The standard library's parser reads a message one line at a time, in Python, and most of the
lines of business email are the base64 lines of its attachments: nine tenths of the bytes,
which cost most of the parse and tell the parser nothing. Where they are, it only looks at
each line to see whether it is a boundary (it starts with ``--``), a header (it has a colon,
or starts with a space or a tab), an empty line, or a ``From`` line. A line made only of
base64 letters (``A–Z a–z 0–9 + / =``) is none of these, so a run of them is treated the
same whatever it says and however long it is: it all lands, as it is, in the one payload (or
preamble, or epilogue) it sits in.

So each long run of such lines is replaced, before parsing, by one line of a token made of
the same letters, ending as the run's last line ends; the parser sees the same structure,
with the same headers and defects, and the token lands where the run would have. Putting
the run back in place of its token gives the message that ``message_from_bytes`` gives, part
for part, and every later read of it (decoding, ``as_bytes``) is the standard library's own.
"""

from __future__ import annotations

import re
from email import message_from_bytes
from email.message import Message
from email.policy import Policy

from tidings.domain.header_text import neutral_line_ends

#: A run of at least this many lines is worth a token (about 2 KB of base64).
MIN_RUN_LINES = 26
#: Non-empty lines of base64 letters, each ended by LF or CRLF, from the start of a line.
#: Possessive: a run is taken whole or not at all, without backtracking over its lines.
_RUN_LINES = rb"^(?:[A-Za-z0-9+/=]++\r?\n){%d,}+"
_RUN = re.compile(_RUN_LINES % MIN_RUN_LINES, re.MULTILINE)
_MARK = "TIDINGSELIDED"


def parse_message(raw: bytes, policy: Policy, min_lines: int = MIN_RUN_LINES) -> Message:
    """``message_from_bytes(raw, policy=policy)``, parsed without walking long base64 runs.

    A bare CR is read as data, not as the line end the standard library takes it for
    (``header_text.neutral_line_ends``): no header or boundary starts after one.
    """
    if isinstance(raw, bytes):
        raw = neutral_line_ends(raw)
    # Where the message holds the token itself, the two could not be told apart; anything
    # but bytes fails as message_from_bytes fails.
    if not isinstance(raw, bytes) or _MARK.encode("ascii") in raw:
        return message_from_bytes(raw, policy=policy)
    reduced, runs = _elide(raw, _run_pattern(min_lines))
    msg = message_from_bytes(reduced, policy=policy)
    if runs:
        _restore(msg, runs)
    return msg


def _run_pattern(min_lines: int) -> re.Pattern[bytes]:
    if min_lines == MIN_RUN_LINES:
        return _RUN
    return re.compile(_RUN_LINES % min_lines, re.MULTILINE)


def _elide(raw: bytes, pattern: re.Pattern[bytes]) -> tuple[bytes, dict[str, str]]:
    """``raw`` with each run replaced by a token line; each token's run without its last
    line end, which the token line keeps (before a boundary, the parser drops it)."""
    pieces: list[bytes] = []
    runs: dict[str, str] = {}
    position = 0
    for match in pattern.finditer(raw):
        start, end = match.span()
        ending = 2 if raw[end - 2 : end] == b"\r\n" else 1
        token = f"{_MARK}{len(runs)}Z"  # the Z keeps token 1 from matching token 10's start
        # ASCII by construction: the letters of the run decode as the parser decodes them.
        runs[token] = raw[start : end - ending].decode("ascii")
        pieces += (raw[position:start], token.encode("ascii"), raw[end - ending : end])
        position = end
    if not runs:
        return raw, runs
    pieces.append(raw[position:])
    return b"".join(pieces), runs


def _restore(msg: Message, runs: dict[str, str]) -> None:
    """Put each run back where the parser left its token."""
    for part in msg.walk():
        # The payload as the parser left it: get_payload() would hand back a text with 8-bit
        # bytes decoded by the part's charset, not the text to put the run back into.
        payload = vars(part).get("_payload")
        if isinstance(payload, str) and _MARK in payload:
            part.set_payload(_put_back(payload, runs))
        if part.preamble and _MARK in part.preamble:
            part.preamble = _put_back(part.preamble, runs)
        if part.epilogue and _MARK in part.epilogue:
            part.epilogue = _put_back(part.epilogue, runs)


def _put_back(text: str, runs: dict[str, str]) -> str:
    for token, run in runs.items():
        if token in text:
            text = text.replace(token, run)
    return text
