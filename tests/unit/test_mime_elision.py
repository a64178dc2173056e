"""Parsing with long base64 runs set aside gives the message ``message_from_bytes`` gives
(once bare CRs are read as data, as RFC 5322 reads them: ``header_text.neutral_line_ends``)."""

from __future__ import annotations

import base64
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidings.domain.header_text import neutral_line_ends
from tidings.domain.mime_bounds import bound_structure
from tidings.domain.mime_elision import parse_message

CORPUS = Path(__file__).parent.parent / "data" / "corpus"


def _shape(msg: Message) -> list[tuple[object, ...]]:
    """Every part as stored: headers, payload text as parsed, preamble, epilogue, defects."""
    return [
        (
            part.items(),
            None if part.is_multipart() else vars(part)["_payload"],
            part.preamble,
            part.epilogue,
            [type(d) for d in part.defects],
        )
        for part in msg.walk()
    ]


def _assert_same(raw: bytes) -> None:
    expected = message_from_bytes(neutral_line_ends(raw), policy=policy.default)
    # One line is enough to make a run here: every run of the message is set aside.
    elided = parse_message(raw, policy.default, min_lines=1)

    assert _shape(elided) == _shape(expected)
    assert elided.as_bytes() == expected.as_bytes()
    decoded = [p.get_payload(decode=True) for p in expected.walk() if not p.is_multipart()]
    assert [p.get_payload(decode=True) for p in elided.walk() if not p.is_multipart()] == decoded


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.eml")))
def test_a_corpus_email_parses_the_same_with_its_runs_set_aside(name: str) -> None:
    # Broken boundaries, truncated base64, DSNs, forwarded messages: part for part the same.
    # Cut as parse_email cuts it: the standard library cannot read 3,000 levels at all.
    _assert_same(bound_structure((CORPUS / name).read_bytes())[0])


def _b64_lines(data: bytes, eol: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", eol)


@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_runs_in_every_place_a_parser_can_put_them_are_put_back(eol: bytes) -> None:
    # A base64 body, an attachment, a preamble, an epilogue, a forwarded message's body, a
    # part without a blank line after its headers, and a run right before a boundary.
    blob = _b64_lines(bytes(range(256)) * 40, eol)
    raw = eol.join(
        [
            b"From: a@example.com",
            b"Subject: runs",
            b"MIME-Version: 1.0",
            b'Content-Type: multipart/mixed; boundary="b1"',
            b"",
            blob + b"--b1",
            b"Content-Type: text/plain; charset=utf-8",
            b"Content-Transfer-Encoding: base64",
            b"",
            _b64_lines("Grüße aus Köln\n".encode() * 200, eol) + b"--b1",
            b"Content-Type: application/pdf; name=x.pdf",
            b"Content-Transfer-Encoding: base64",
            blob + b"--b1",
            b"Content-Type: message/rfc822",
            b"",
            b"Subject: inner",
            b"Content-Type: image/png",
            b"Content-Transfer-Encoding: base64",
            b"",
            blob + b"--b1--",
            blob,
        ]
    )

    _assert_same(raw)


def test_a_message_that_holds_the_token_is_parsed_as_it_is() -> None:
    # The token could not be told from the message's own words: nothing is set aside.
    raw = b"Subject: x\r\n\r\nTIDINGSELIDED0Z\r\n" + _b64_lines(b"\0" * 3000, b"\r\n")

    _assert_same(raw)


_LINE = st.one_of(
    st.text(alphabet="ABCxyz019+/=", min_size=1, max_size=12),
    st.sampled_from(["", "--b", "--b--", "--c", "Content-Type: text/plain", " folded", "From x"]),
    st.sampled_from(["Content-Type: multipart/mixed; boundary=c", "Content-Type: message/rfc822"]),
    st.sampled_from(["Content-Type: message/delivery-status", "Content-Transfer-Encoding: base64"]),
)


@settings(max_examples=300, deadline=None)
@given(
    lines=st.lists(_LINE, max_size=40),
    eol=st.sampled_from(["\r\n", "\n"]),
)
def test_any_arrangement_of_lines_parses_the_same(lines: list[str], eol: str) -> None:
    # Runs next to boundaries, headers, blank lines and nested parts of every kind.
    head = "Content-Type: multipart/mixed; boundary=b" + eol
    _assert_same((head + eol.join(lines)).encode("ascii"))


def test_a_bare_cr_starts_no_header_and_no_part() -> None:
    # The standard library alone would end the line at the CR and read a Bcc and a part.
    raw = (
        b"Subject: hello\rBcc: eve@evil.example\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r--b\rContent-Type: text/html\r\n\r\n"
        b"<p>x</p>\r\n--b--\r\n"
    )

    msg = parse_message(raw, policy.default)

    assert msg["Bcc"] is None
    assert msg["Subject"] == "hello Bcc: eve@evil.example"
    assert [p.get_content_type() for p in msg.walk()] == ["multipart/mixed", "text/plain"]
