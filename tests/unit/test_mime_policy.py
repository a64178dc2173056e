"""The header-sharing policy reads every message exactly as ``policy.default`` does."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path

import pytest

from tidings.domain.mime_bounds import bound_structure
from tidings.domain.mime_policy import CACHED_DEFAULT

CORPUS = Path(__file__).parent.parent / "data" / "corpus"


def _shape(msg: Message) -> list[tuple[object, ...]]:
    """Every part's headers (as parsed objects' text, class and defects) and payload."""
    found = []
    for part in msg.walk():
        headers = [
            (name, str(value), type(value).__name__, [type(d) for d in value.defects])
            for name, value in part.items()
        ]
        payload = None if part.is_multipart() else part.get_payload(decode=True)
        found.append((headers, part.get_content_type(), part.get_params(), payload))
    return found


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.eml")))
def test_a_corpus_email_reads_the_same_as_with_policy_default(name: str) -> None:
    # Sharing parsed header values changes nothing a reader of the message can see.
    # Cut as parse_email cuts it: the standard library cannot read 3,000 levels at all.
    raw, _ = bound_structure((CORPUS / name).read_bytes())

    expected = message_from_bytes(raw, policy=policy.default)
    shared = message_from_bytes(raw, policy=CACHED_DEFAULT)

    assert _shape(shared) == _shape(expected)
    assert [type(d) for d in shared.defects] == [type(d) for d in expected.defects]


def test_the_same_header_value_read_twice_is_parsed_once() -> None:
    # The second message's Content-Type is the very object built for the first one.
    raw = b"Content-Type: text/plain; charset=utf-8\r\n\r\nhello\r\n"

    first = message_from_bytes(raw, policy=CACHED_DEFAULT)["Content-Type"]
    second = message_from_bytes(raw, policy=CACHED_DEFAULT)["Content-Type"]

    assert first is second
    assert first.params == {"charset": "utf-8"}
