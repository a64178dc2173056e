"""International addresses (RFC 6530) as a sent message writes them: domains as A-labels
(IDNA 2008, UTS #46), a Unicode local part only in UTF-8 headers (RFC 6532), and never an
encoded word inside an address (RFC 2047 §5)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, message_from_string, policy

import pytest

from tidings.domain.address_forms import WireAddress, ascii_domain, on_the_wire
from tidings.domain.errors import ValidationError
from tidings.domain.outgoing import OutgoingEmail, compose, new_message_id
from tidings.domain.records import normalize_address


@pytest.mark.parametrize(
    ("address", "wire"),
    [
        ("dana@northwind.example", "dana@northwind.example"),
        ("maria@bücher.example", "maria@xn--bcher-kva.example"),
        # IDNA 2008 keeps ß (IDNA 2003 made it "ss": strasse.de, someone else's domain).
        ("info@straße.de", "info@xn--strae-oqa.de"),
        # UTS #46 maps case and width; a decomposed ü is the same domain.
        ("maria@BÜCHER.example", "maria@xn--bcher-kva.example"),
        ("maria@bu\u0308cher.example", "maria@xn--bcher-kva.example"),
        ("maria@ｂücher.example", "maria@xn--bcher-kva.example"),
        ("sales@xn--bcher-kva.example", "sales@xn--bcher-kva.example"),
        ("ops@[192.0.2.1]", "ops@[192.0.2.1]"),
        ("ivan@почта.рф", "ivan@xn--80a1acny.xn--p1ai"),
    ],
)
def test_an_ascii_local_part_goes_out_with_its_domain_as_an_a_label(
    address: str, wire: str
) -> None:
    assert on_the_wire(address) == WireAddress(wire, needs_utf8=False)


@pytest.mark.parametrize(
    ("address", "wire"),
    [
        ("jürgen@müller.example", "jürgen@xn--mller-kva.example"),
        ("ju\u0308rgen@müller.example", "jürgen@xn--mller-kva.example"),  # composed (NFC)
        ("用户@例子.广告", "用户@xn--fsqu00a.xn--4rr70v"),
        ("δοκιμή@example.com", "δοκιμή@example.com"),
    ],
)
def test_a_unicode_local_part_needs_utf8(address: str, wire: str) -> None:
    assert on_the_wire(address) == WireAddress(wire, needs_utf8=True)


@pytest.mark.parametrize(
    "domain", ["-bücher.example", "bü\u200dcher.example", "xn--bcher-kva.ü-.example"]
)
def test_a_domain_that_is_no_valid_idn_is_refused_with_its_name(domain: str) -> None:
    with pytest.raises(ValidationError, match="not a valid internationalized domain name"):
        ascii_domain(domain)


def _email(**changes: object) -> OutgoingEmail:
    fields: dict[str, object] = {
        "sender_name": "Jürgen Groß, Sales",
        "sender_address": "jg@northwind.example",
        "to": ("maria@bücher.example",),
        "cc": ("info@straße.de",),
        "subject": "Grüße",
        "body": "Hallo Maria,\n",
        "html_body": None,
        "message_id": "<m@northwind.example>",
        "date": datetime(2026, 12, 1, tzinfo=UTC),
    }
    fields.update(changes)
    return OutgoingEmail(**fields)  # type: ignore[arg-type]


_ENCODED_WORD = re.compile(rb"=\?[^?]+\?[qQbB]\?")


def _address_headers(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ")
    return [line for line in head.split(b"\r\n") if line.split(b":")[0] in (b"From", b"To", b"Cc")]


def test_international_domains_are_written_as_a_labels_in_an_ascii_message() -> None:
    raw = compose(_email())
    assert raw.isascii()
    msg = message_from_bytes(raw, policy=policy.default)
    assert msg["To"].addresses[0].addr_spec == "maria@xn--bcher-kva.example"
    assert msg["Cc"].addresses[0].addr_spec == "info@xn--strae-oqa.de"
    [sender] = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Jürgen Groß, Sales", "jg@northwind.example")
    # Encoded words in the display name only, never in an address.
    for line in _address_headers(raw):
        assert not _ENCODED_WORD.search(line.split(b"<")[-1]), line


@pytest.mark.parametrize("name", ["Jürgen Groß, Sales", 'Dana "DR" Reyes \\ Ops', ""])
def test_a_unicode_local_part_makes_the_headers_utf8_and_the_sender_stays_whole(
    name: str,
) -> None:
    raw = compose(
        _email(sender_name=name, sender_address="jürgen@müller.example", to=("用户@例子.广告",))
    )
    assert not raw.isascii()
    # As a receiver that offers SMTPUTF8 reads it: the header bytes are UTF-8.
    msg = message_from_string(raw.decode("utf-8"), policy=policy.SMTPUTF8)
    [sender] = msg["From"].addresses
    assert (sender.display_name, sender.addr_spec) == (name, "jürgen@xn--mller-kva.example")
    assert msg["To"].addresses[0].addr_spec == "用户@xn--fsqu00a.xn--4rr70v"
    assert msg["Subject"] == "Grüße"
    for line in _address_headers(raw):
        assert not _ENCODED_WORD.search(line), line


def test_a_bcc_recipient_whose_domain_is_no_valid_idn_is_refused_when_queued() -> None:
    with pytest.raises(ValidationError, match=r"-bücher\.example"):
        compose(_email(bcc=("boss@-bücher.example",)))


@pytest.mark.parametrize(
    "written",
    [
        "maria@bücher.example",
        "Maria@BÜCHER.example",
        "maria@xn--bcher-kva.example",
        "MARIA@XN--BCHER-KVA.EXAMPLE",
        "maria@bu\u0308cher.example",
        " maria@bücher.example ",
    ],
)
def test_every_form_of_an_international_address_is_stored_as_one(written: str) -> None:
    assert normalize_address(written) == "maria@bücher.example"


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("Dana@Northwind.example", "dana@northwind.example"),
        ("ju\u0308rgen@müller.example", "jürgen@müller.example"),
        # No valid IDN: kept (lower case, composed) rather than refused; sending checks it.
        ("x@xn--zz.example", "x@xn--zz.example"),
        ("x@-bücher.example", "x@-bücher.example"),
        ("not an address", "not an address"),
    ],
)
def test_other_addresses_are_stored_in_lower_case_and_composed(written: str, stored: str) -> None:
    assert normalize_address(written) == stored


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("sam@northwind.example", "northwind.example"),
        ("sam@müller.example", "xn--mller-kva.example"),
        ("jürgen@müller.example", "xn--mller-kva.example"),
        ("sam@-müller.example", "tidings.invalid"),
    ],
)
def test_a_sender_in_an_international_domain_gets_an_ascii_message_id(
    sender: str, domain: str
) -> None:
    message_id = new_message_id(sender)
    assert message_id.isascii() and message_id.endswith(f"@{domain}>")
    if sender.partition("@")[0].isascii() and domain != "tidings.invalid":
        raw = compose(_email(sender_address=sender, message_id=message_id, cc=()))
        assert raw.isascii()
        assert message_from_bytes(raw, policy=policy.default)["Message-ID"] == message_id


@pytest.mark.parametrize(
    "body", ["Hallo Jürgen, schöne Grüße\n", "你好，报价单在附件中。\n", "Plain ASCII\n"]
)
def test_a_sent_message_holds_no_8bit_body_for_a_server_without_8bitmime(body: str) -> None:
    # RFC 6152: raw 8-bit data only with BODY=8BITMIME; a relay that turns such a body
    # into 7-bit for its next hop breaks the DKIM signature on it.
    raw = compose(_email(body=body, html_body=f"<p>{body}</p>", cc=()))
    assert raw.isascii()
    msg = message_from_bytes(raw, policy=policy.default)
    # Text in its MIME canonical form ends lines with CRLF (RFC 2049 §4).
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == body
    assert msg.get_body(("html",)).get_content().replace("\r\n", "\n") == f"<p>{body}</p>\n"
