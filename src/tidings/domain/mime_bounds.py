"""Keeping a message's structure within what the parser can read: bounded depth and parts.

The standard library's parser nests a generator per level of multipart or message/rfc822,
so a message nested a few thousand levels deep fails with ``RecursionError`` (and costs time
growing with the square of its depth well before that), and one of tens of thousands of
parts costs seconds. Such a message is cut before parsing, so that the parts within reach
are read and the email is tracked rather than parked:

- a part that would open a level deeper than ``MAX_DEPTH`` is kept as one unread leaf of
  type ``UNREAD_TYPE`` (the parser does not look inside it);
- after ``MAX_PARTS`` parts the message ends: every level still open is closed there.

Either cut is described by a note, which the activity carries. Ordinary email is seen to be
within bounds by counting, without reading it line by line.
"""

from __future__ import annotations

import re

MAX_DEPTH = 32
MAX_PARTS = 500
#: The type a part too deep to read is given: it is dropped, not offered as an attachment.
UNREAD_TYPE = "application/x-tidings-unread"

_NESTING = re.compile(rb"(?i)multipart/|message/rfc822")
_CONTENT_TYPE = re.compile(rb"(?i)^content-type:")
_MULTIPART = re.compile(rb"(?i)^content-type:\s*multipart/")
_MESSAGE = re.compile(rb"(?i)^content-type:\s*message/rfc822")
_BOUNDARY = re.compile(rb'(?i)boundary\s*=\s*(?:"([^"\r\n]*)"|([^\s;]+))')


def bound_structure(raw: bytes) -> tuple[bytes, str]:
    """``raw`` cut to at most ``MAX_DEPTH`` levels and ``MAX_PARTS`` parts, and a note of
    what was left unread (``""`` if nothing was)."""
    if raw.count(b"\n--") <= MAX_PARTS and len(_NESTING.findall(raw)) <= MAX_DEPTH:
        return raw, ""
    return _Cutter(raw).cut()


class _Cutter:
    """One pass over the lines of a message, following its boundaries."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.out: list[bytes] = []
        self.stack: list[bytes | None] = []  # open levels: a boundary, or None for rfc822
        self.parts = 0
        self.too_deep = 0

    def cut(self) -> tuple[bytes, str]:
        lines = self.raw.splitlines(keepends=True)
        index = self._headers(lines, 0)
        while index < len(lines):
            line = lines[index]
            index += 1
            level = self._boundary_level(line) if line.startswith(b"--") else None
            if level is None:
                self.out.append(line)
                continue
            boundary = self.stack[level]
            assert boundary is not None  # noqa: S101 - only boundaries match
            if line.rstrip() == b"--" + boundary + b"--":
                del self.stack[level:]  # the level closes, with every level inside it
                self.out.append(line)
                continue
            del self.stack[level + 1 :]
            self.parts += 1
            if self.parts > MAX_PARTS:
                self._close_all()
                unread = sum(1 for rest in lines[index:] if rest.startswith(b"--"))
                return b"".join(self.out), self._note(unread)
            self.out.append(line)
            index = self._headers(lines, index)
        return b"".join(self.out), self._note(0)

    def _boundary_level(self, line: bytes) -> int | None:
        stripped = line.rstrip()
        for level in range(len(self.stack) - 1, -1, -1):
            boundary = self.stack[level]
            if boundary is not None and stripped in (b"--" + boundary, b"--" + boundary + b"--"):
                return level
        return None

    def _headers(self, lines: list[bytes], index: int) -> int:
        """Copy one header block from ``index``, opening the level it declares."""
        block: list[bytes] = []
        while index < len(lines) and lines[index].strip():
            block.append(lines[index])
            index += 1
        content_type = b" ".join(_content_type_lines(block))
        multipart = bool(_MULTIPART.match(content_type))
        message = bool(_MESSAGE.match(content_type))
        boundary = _BOUNDARY.search(content_type) if multipart else None
        opens = message or boundary is not None
        if opens and len(self.stack) >= MAX_DEPTH:
            self.too_deep += 1
            block = [line for line in block if line not in _content_type_lines(block)]
            block.append(f"Content-Type: {UNREAD_TYPE}\r\n".encode("ascii"))
            opens = False
        self.out += block
        if index < len(lines):  # the empty line
            self.out.append(lines[index])
            index += 1
        if opens and boundary is not None:
            self.stack.append(boundary.group(1) or boundary.group(2))
        elif opens:  # message/rfc822: the inner message's headers follow at once
            self.stack.append(None)
            return self._headers(lines, index)
        return index

    def _close_all(self) -> None:
        for boundary in reversed(self.stack):
            if boundary is not None:
                self.out.append(b"--" + boundary + b"--\r\n")
        self.stack = []

    def _note(self, unread_parts: int) -> str:
        notes = []
        if self.too_deep:
            notes.append(f"parts nested deeper than {MAX_DEPTH} levels were not read")
        if unread_parts or self.parts > MAX_PARTS:
            notes.append(f"only the first {MAX_PARTS} parts were read")
        return "; ".join(notes)


def _content_type_lines(block: list[bytes]) -> list[bytes]:
    """The lines of the Content-Type header in ``block``, continuation lines included."""
    found: list[bytes] = []
    inside = False
    for line in block:
        if _CONTENT_TYPE.match(line):
            inside = True
        elif line[:1] not in (b" ", b"\t"):
            inside = False
        if inside:
            found.append(line)
    return found
