"""Telling bytes that are not an email, and errors told in one line."""

from __future__ import annotations

import pytest

from tidings.domain.error_text import brief, first_line
from tidings.domain.unreadable import EMPTY, NO_HEADER_BLOCK, unreadable_reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", EMPTY),
        (b"\0\0\0", EMPTY),
        (b" \t\r\n\r\n", EMPTY),
        (b"Hello Dana,\r\n\r\nbody", NO_HEADER_BLOCK),
        (b"\x89PNG\r\n\x1a\n\0\0", NO_HEADER_BLOCK),
        (b"\r\nFrom: a@b.example\r\n", NO_HEADER_BLOCK),
        (b": no name\r\n", NO_HEADER_BLOCK),
        (b"Two words: not a field name\r\n", NO_HEADER_BLOCK),
        (b"From: a@b.example", None),
        (b"X-Anything:\r\n\r\n", None),
        (b"Subject\t: obsolete spacing\n\nbody", None),
        (b"From a@b.example Thu Nov 19 10:30:00 2026\nSubject: x\n\nbody", None),
        (b"\0From: a@b.example\r\n", None),
        (b"Received: from x\rSubject: bare CR line ends\r\rbody", None),
    ],
)
def test_bytes_are_an_email_only_when_they_start_with_a_header_field(
    raw: bytes, expected: str | None
) -> None:
    assert unreadable_reason(raw) == expected


def test_an_error_is_told_by_its_class_and_the_first_line_of_its_message_cut_short() -> None:
    error = ValueError("\n  first line  \n[SQL: SELECT " + "?, " * 70_000 + "]")
    assert brief(error) == "ValueError: first line"
    assert len(brief(ValueError("x" * 10_000))) < 320
    assert first_line("y" * 500, 10) == "yyyyyyyyy…"
    assert brief(KeyError()) == "KeyError"


def test_an_error_whose_message_cannot_be_read_is_still_told_by_its_class() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    assert brief(Broken()) == "Broken"
