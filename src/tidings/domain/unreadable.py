"""Bytes that are not an email at all: nothing in them, or no header block to read.

An empty file, or bytes whose first line is not a header field (``Name: value``, RFC 5322
§2.2) — binary junk, a body saved without its headers — would otherwise become an email
activity with no sender, no recipients and no subject. Such bytes are kept like any others
and parked with the reason, where an operator sees them and may replay them.
"""

from __future__ import annotations

import re

EMPTY = "empty message"
NO_HEADER_BLOCK = "no header block"

#: RFC 5322 §3.6.8: a field name is printable US-ASCII but the colon; whitespace before the
#: colon is the obsolete syntax (§4.5), still met in real mail.
_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_LINE_END = re.compile(rb"\r\n|\n|\r")

EXPLANATIONS = {
    EMPTY: "the message has no bytes (or only NULs and blank space): there is nothing to track",
    NO_HEADER_BLOCK: (
        "the message does not start with a header field (Name: value): without headers "
        "there is no sender, recipient or subject to track"
    ),
}


def unreadable_reason(raw: bytes) -> str | None:
    """``EMPTY`` or ``NO_HEADER_BLOCK`` when ``raw`` is not an email, else ``None``."""
    text = raw.replace(b"\0", b"")  # NULs are dropped when headers are read, too
    if not text.strip():
        return EMPTY
    lines = _LINE_END.split(text, maxsplit=2)
    first = lines[0]
    if first.startswith(b"From ") and len(lines) > 1:  # an mbox separator line left on
        first = lines[1]
    return None if _FIELD.match(first) else NO_HEADER_BLOCK
