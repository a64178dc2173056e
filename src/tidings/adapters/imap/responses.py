"""Pure parsing of the IMAP responses sync reads, as aioimaplib hands them over.

aioimaplib returns a command's untagged lines as ``bytes`` and each literal as a
``bytearray``; a FETCH item with a literal spans three entries: the head ending in ``{n}``,
the literal, and the rest of the parenthesised list (RFC 3501 §7.4.2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

from tidings.adapters.imap.folder_names import from_wire
from tidings.domain.sync import FetchedMessage, FolderStatus

_CODE = re.compile(rb"\[(UIDVALIDITY|UIDNEXT|HIGHESTMODSEQ) (\d+)\]")
_EXISTS = re.compile(rb"^(\d+) EXISTS$")
_FETCH_HEAD = re.compile(rb"^\d+ FETCH \(")
_UID = re.compile(rb"\bUID (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "([^"]+)"')
_PUSH = re.compile(rb"^(\d+ (EXISTS|EXPUNGE|FETCH)|VANISHED \d)")
_LIST = re.compile(rb'^(?:LIST )?\(([^)]*)\) (?:"(?:[^"\\]|\\.)*"|NIL) (.*)$', re.IGNORECASE)
_LITERAL = re.compile(rb"^\{(\d+)\}$")
#: A body sent as a quoted string rather than a literal (RFC 3501 §9: ``nstring``), as a
#: server may for an empty message; and one sent as NIL, which is no message at all.
_QUOTED_BODY = re.compile(rb'\bBODY\[\] "((?:[^"\\]|\\.)*)"', re.IGNORECASE)
_NIL_BODY = re.compile(rb"\bBODY\[\] NIL\b", re.IGNORECASE)


def parse_select(lines: Sequence[bytes | bytearray]) -> FolderStatus:
    """UIDVALIDITY, UIDNEXT, EXISTS and HIGHESTMODSEQ from a SELECT's responses."""
    codes: dict[bytes, int] = {}
    exists = 0
    for line in lines:
        for name, value in _CODE.findall(bytes(line)):
            codes[name] = int(value)
        if match := _EXISTS.match(bytes(line)):
            exists = int(match.group(1))
    if b"UIDVALIDITY" not in codes:
        raise ValueError("the server sent no UIDVALIDITY for the folder")
    return FolderStatus(
        uidvalidity=codes[b"UIDVALIDITY"],
        uidnext=codes.get(b"UIDNEXT"),
        exists=exists,
        highest_modseq=codes.get(b"HIGHESTMODSEQ"),
    )


def parse_search(lines: Sequence[bytes | bytearray]) -> list[int]:
    """The UIDs of a UID SEARCH, in ascending order.

    aioimaplib hands over the numbers of each ``* SEARCH`` line, then the tagged answer's
    text as the last line. Every line but that one is read (a server may answer in more
    than one line); the text is not, whatever numbers it quotes. ``(MODSEQ n)`` ends a
    line's numbers (RFC 7162 §3.1.5)."""
    found: set[int] = set()
    for line in lines[:-1]:
        for token in bytes(line).split():
            if not token.isdigit():
                break
            found.add(int(token))
    return sorted(found)


def parse_fetch(lines: Sequence[bytes | bytearray]) -> list[FetchedMessage]:
    """Every message of a ``UID FETCH (UID INTERNALDATE BODY.PEEK[])`` response whose body
    came, as a literal or as a quoted string; one whose body is NIL did not come (see
    ``nil_bodies``)."""
    found: list[FetchedMessage] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if (
            isinstance(line, bytes)
            and (quoted := _QUOTED_BODY.search(line))
            and _FETCH_HEAD.match(line)
            and (uid := _UID.search(line[: quoted.start()] + line[quoted.end() :]))
        ):
            raw = re.sub(rb"\\(.)", rb"\1", quoted.group(1))
            found.append(FetchedMessage(int(uid.group(1)), _internal_date(line), raw))
            index += 1
        elif isinstance(line, bytes) and _FETCH_HEAD.match(line) and line.endswith(b"}"):
            literal = lines[index + 1] if index + 1 < len(lines) else b""
            rest = bytes(lines[index + 2]) if index + 2 < len(lines) else b""
            attributes = line + b" " + rest  # UID may come after the literal
            uid = _UID.search(attributes)
            if uid is not None:
                found.append(
                    FetchedMessage(int(uid.group(1)), _internal_date(attributes), bytes(literal))
                )
            index += 3
        else:
            index += 1
    return found


_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)", re.IGNORECASE)


def parse_sizes(lines: Sequence[bytes | bytearray]) -> dict[int, int]:
    """UID: RFC822.SIZE of each message of a ``UID FETCH … (UID RFC822.SIZE)`` response."""
    found: dict[int, int] = {}
    for line in lines:
        if not (isinstance(line, bytes) and _FETCH_HEAD.match(line)):
            continue
        uid, size = _UID.search(line), _SIZE.search(line)
        if uid is not None and size is not None:
            found[int(uid.group(1))] = int(size.group(1))
    return found


def nil_bodies(lines: Sequence[bytes | bytearray]) -> list[int]:
    """UIDs a FETCH answered with ``BODY[] NIL``: the server named the message but did not
    hand it over (Dovecot does so for one expunged behind the session)."""
    found = []
    for line in lines:
        if isinstance(line, bytes) and _FETCH_HEAD.match(line) and _NIL_BODY.search(line):
            uid = _UID.search(line)
            if uid is not None:
                found.append(int(uid.group(1)))
    return found


def _internal_date(attributes: bytes) -> datetime | None:
    match = _INTERNALDATE.search(attributes)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1).decode(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None


def is_change(push: Sequence[bytes | bytearray] | str) -> bool:
    """Whether IDLE pushed something sync must look at (new, expunged or changed mail)."""
    if isinstance(push, str):
        return False  # aioimaplib's "stop waiting" marker
    return any(_PUSH.match(bytes(line)) for line in push)


def imap_date(moment: datetime) -> str:
    """A date as SEARCH SINCE wants it (RFC 3501 ``date``)."""
    return moment.strftime("%d-%b-%Y")


def parse_list(lines: Sequence[bytes | bytearray]) -> list[tuple[frozenset[str], str]]:
    """(attributes, name) of every folder in a LIST response (RFC 3501 §7.2.2), each name
    as people read it (``folder_names.from_wire``)."""
    found = []
    for index, line in enumerate(lines):
        match = _LIST.match(bytes(line).rstrip(b"\r\n"))
        if match is None or isinstance(line, bytearray):
            continue
        attributes = frozenset(match.group(1).decode("ascii", "replace").lower().split())
        name = match.group(2)
        if _LITERAL.match(name) and index + 1 < len(lines):
            name = bytes(lines[index + 1])
        elif name.startswith(b'"') and name.endswith(b'"') and len(name) >= 2:
            name = re.sub(rb"\\(.)", rb"\1", name[1:-1])
        found.append((attributes, from_wire(name.decode("utf-8", "replace"))))
    return found


def folder_with_attribute(
    folders: Sequence[tuple[frozenset[str], str]], attribute: str
) -> str | None:
    """The first folder carrying ``attribute`` (case does not matter), if any."""
    wanted = attribute.lower()
    return next((name for attributes, name in folders if wanted in attributes), None)
