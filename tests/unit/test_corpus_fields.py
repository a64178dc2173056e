"""Each corpus case with expected fields reads exactly as MANIFEST.toml says: subject, sender
and name, every party, Message-ID, In-Reply-To, References, body text, attachments and the
blocked ones, and whether (by which header) it is automated."""

from __future__ import annotations

from typing import Any

import pytest

from tests.corpus_fields import CORPUS, EXPECTED, FIELDS
from tests.hostile_vectors import active_parts
from tidings.adapters.html_sanitizer import Nh3HtmlSanitizer
from tidings.domain.attachments import blocked_reason
from tidings.domain.automated import automated_mark
from tidings.domain.message import parse_email, parse_headers, split_header_block
from tidings.domain.settings import EmailConfiguration


def read(name: str) -> dict[str, Any]:
    """The fields as the header summary and the full parse read them."""
    raw = (CORPUS / name).read_bytes()
    headers = parse_headers(raw)
    parsed = parse_email(raw)
    mark = automated_mark(headers)
    sender = headers.sender
    config = EmailConfiguration()
    found: dict[str, Any] = {
        "subject": headers.subject,
        "from": sender.address if sender else "",
        "from_name": sender.name if sender else "",
        "to": [[a.name, a.address] for a in headers.to],
        "cc": [[a.name, a.address] for a in headers.cc],
        "bcc": [[a.name, a.address] for a in headers.bcc],
        "message_id": headers.message_id,
        "in_reply_to": list(headers.in_reply_to),
        "references": list(headers.references),
        "text_body": parsed.text_body,
        "attachments": [a.filename for a in parsed.attachments],
        "blocked": [a.filename for a in parsed.attachments if blocked_reason(a, config)],
        "automated": mark.header if mark else "",
    }
    if parsed.unread:
        found["unread"] = parsed.unread
    if parsed.html_body is not None and "sanitized_html" in EXPECTED.get(name, {}):
        found["sanitized_html"] = (
            Nh3HtmlSanitizer().clean(parsed.html_body, remote_images=False).html
        )
    return found


def test_the_manifest_gives_expected_fields_for_a_case_of_each_kind() -> None:
    # Headers, bodies and attachments, automated email, hostile HTML, deep and wide MIME.
    assert len(EXPECTED) >= 17
    assert all(set(fields) >= FIELDS for fields in EXPECTED.values())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_corpus_email_reads_exactly_as_the_manifest_expects(name: str) -> None:
    assert read(name) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_header_block_alone_reads_the_same_headers(name: str) -> None:
    # Worker processes get only the header block: they must decide on the same reading.
    raw = (CORPUS / name).read_bytes()

    assert parse_headers(split_header_block(raw)) == parse_headers(raw)


def test_the_hostile_css_case_keeps_nothing_active() -> None:
    html = read("fidelity_hostile_css.eml")["sanitized_html"]

    assert active_parts(html) == []
