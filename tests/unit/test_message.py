"""Reading email: the header summary the rules need and the full parse, on the real corpus."""

from __future__ import annotations

import base64
import hashlib
import tomllib
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tidings.domain.errors import ValidationError
from tidings.domain.message import (
    Address,
    content_hash,
    decode_text,
    parse_conversation_id,
    parse_email,
    parse_headers,
    parse_message_ids,
    split_header_block,
)
from tidings.domain.records import check_email_addresses

CORPUS = Path(__file__).parent.parent / "data" / "corpus"
MANIFEST: dict[str, dict[str, object]] = tomllib.loads(
    (CORPUS / "MANIFEST.toml").read_text(encoding="utf-8")
)
FILES = sorted(MANIFEST)
AUTO_REPLIES = [name for name in FILES if MANIFEST[name]["auto"] == "auto-reply"]
#: Outlook's Thread-Index of outlook_thread_index.eml, and its first 22 bytes in hex.
THREAD_INDEX = "Adp7LJ5AiNB6LNDhNHDEIstpe0FGMw=="
CONVERSATION = "01da7b2c9e4088d07a2cd0e13470c422cb697b414633"


def raw(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


# --- the corpus as a whole ----------------------------------------------------------------


def test_the_manifest_lists_every_file_of_the_corpus() -> None:
    # Each .eml file is described in MANIFEST.toml, and each entry names a file that exists.
    assert sorted(p.name for p in CORPUS.glob("*.eml")) == FILES


@pytest.mark.parametrize("name", FILES)
def test_every_corpus_file_parses_without_raising(name: str) -> None:
    # Broken, garbage and empty mail all give a header summary and a parsed email.
    headers = parse_headers(raw(name))
    parsed = parse_email(raw(name))

    assert isinstance(headers.subject, str)
    assert isinstance(parsed.text_body, str)


@pytest.mark.parametrize("name", FILES)
def test_a_message_id_is_found_exactly_when_the_manifest_says_there_is_one(name: str) -> None:
    # has_message_id in the manifest matches what the header summary reads.
    message_id = parse_headers(raw(name)).message_id

    assert (message_id is not None) is MANIFEST[name]["has_message_id"]
    assert message_id is None or (message_id.startswith("<") and message_id.endswith(">"))


@pytest.mark.parametrize("name", AUTO_REPLIES)
def test_auto_replies_carry_auto_submitted_or_the_x_autoreply_flag(name: str) -> None:
    # Every out-of-office reply in the corpus is recognisable from its headers.
    headers = parse_headers(raw(name))

    assert headers.auto_submitted not in ("", "no") or headers.is_autoreply_flagged


def test_auto_submitted_is_read_lower_case() -> None:
    # RFC 3834's Auto-Submitted value is kept, normalized.
    assert parse_headers(raw("autoreply_auto_submitted.eml")).auto_submitted == "auto-replied"


def test_x_autoreply_alone_flags_an_automatic_reply() -> None:
    # The X-Autoreply file has no Auto-Submitted header, only the flag.
    headers = parse_headers(raw("autoreply_x_autoreply.eml"))

    assert headers.auto_submitted == ""
    assert headers.is_autoreply_flagged


def test_a_dsn_bounce_has_report_type_delivery_status_and_a_null_return_path() -> None:
    # The Postfix bounce is a multipart/report from MAILER-DAEMON with Return-Path <>.
    headers = parse_headers(raw("bounce_dsn.eml"))

    assert headers.report_type == "delivery-status"
    assert headers.return_path == "<>"
    assert headers.sender == Address("Mail Delivery System", "mailer-daemon@mx.example.test")


def test_a_read_receipt_has_report_type_disposition_notification() -> None:
    # An Outlook MDN is a multipart/report of the disposition-notification type.
    assert parse_headers(raw("read_receipt_mdn.eml")).report_type == "disposition-notification"


def test_an_ordinary_email_has_no_report_type() -> None:
    # Only multipart/report has a report type.
    assert parse_headers(raw("plain_ascii.eml")).report_type == ""


# --- header summary -----------------------------------------------------------------------


def test_rfc2047_subject_and_display_names_are_decoded() -> None:
    # Encoded words in utf-8 Q and B, iso-8859-1 Q and B, folded across lines, read as text.
    headers = parse_headers(raw("rfc2047_headers.eml"))

    assert headers.subject == "Angebot für Müller GmbH – Q3 Preisübersicht ✓"
    assert headers.sender == Address("Zoë Ångström", "zoe.angstrom@example.test")
    assert headers.to == (
        Address("François Lévesque", "f.levesque@example.org"),
        Address("Jörg Müller", "joerg.m@example.com"),
    )
    assert headers.cc == (Address("Théa Ø. Nørgaard", "thea@example.org"),)


def test_raw_utf8_headers_are_read_as_utf8() -> None:
    # RFC 6532 allows UTF-8 in header values; clients send it unencoded.
    headers = parse_headers(raw("raw_8bit_headers.eml"))

    assert headers.subject == "Angebot für Müller GmbH – Q3 Preisübersicht ✓"
    assert headers.sender == Address("Zoë Ångström", "zoe.angstrom@example.test")
    assert headers.to == (Address("Jörg Müller", "joerg.m@example.com"),)


def test_malformed_encoded_words_are_read_as_best_they_can_be() -> None:
    # An encoded word in an unknown charset is read as UTF-8, never left as =?…?= text.
    headers = parse_headers(raw("rfc2047_malformed.eml"))

    assert headers.to == (Address("Sales Team", "sales@example.test"),)
    assert headers.sender == Address("Zoë Angström", "zoe.a@example.test")


def test_decode_text_unfolds_keeping_whitespace_and_reads_unknown_charsets() -> None:
    # Unfolding removes only the line end; an unknown charset is read as UTF-8.
    assert decode_text("Quote \r\n\t for  Q3") == "Quote \t for  Q3"
    assert decode_text("=?utf-8?Q?M=C3=BCller?=") == "Müller"
    assert decode_text("=?x-unknown?Q?abc?=") == "abc"


def test_addresses_are_normalized_to_lower_case() -> None:
    # Addresses compare case-insensitively; MAILER-DAEMON becomes mailer-daemon.
    headers = parse_headers(raw("bounce_dsn.eml"))

    assert headers.sender is not None
    assert headers.sender.address == "mailer-daemon@mx.example.test"


def test_addresses_lists_every_address_once_with_the_sender() -> None:
    # Smart matching counts shared recipients from every address of the email.
    headers = parse_headers(raw("rfc2047_headers.eml"))

    assert headers.addresses() == {
        "zoe.angstrom@example.test",
        "f.levesque@example.org",
        "joerg.m@example.com",
        "thea@example.org",
    }


def test_the_sender_falls_back_to_the_sender_header_and_may_be_missing() -> None:
    # No From and no Sender: the summary has no sender rather than raising.
    assert parse_headers(raw("missing_from.eml")).sender is None
    fallback = parse_headers(b"Sender: Ops <ops@example.test>\r\nSubject: x\r\n\r\nbody")
    assert fallback.sender == Address("Ops", "ops@example.test")


def test_garbage_address_lists_keep_only_real_addresses() -> None:
    # ";;;", "bob@", "<>" or "@example.test" never become parties: every address read from
    # a header is one the domain itself accepts (a record could be created for it).
    headers = parse_headers(raw("garbage_to_addresses.eml"))
    found = [a.address for a in (*headers.to, *headers.cc)]

    assert [a for a in found if not is_email_address(a)] == []


def is_email_address(address: str) -> bool:
    """Whether the domain's own check accepts ``address`` for a CRM record."""
    try:
        check_email_addresses((address,))
    except ValidationError:
        return False
    return True


def test_the_first_of_two_message_ids_is_taken() -> None:
    # A message with two Message-ID headers is identified by the first.
    headers = parse_headers(raw("duplicate_message_id.eml"))

    assert headers.message_id == "<so-24-0401.shipped.first@example.test>"


def test_a_message_id_without_angle_brackets_is_bracketed() -> None:
    # Some senders omit the brackets; the id is still usable.
    headers = parse_headers(b"Message-ID: abc@example.test\r\n\r\n")

    assert headers.message_id == "<abc@example.test>"


@pytest.mark.parametrize("value", ["", "not an id", "no-at-sign"])
def test_a_message_id_that_is_no_id_at_all_is_none(value: str) -> None:
    # Text that cannot be a Message-ID does not become one.
    assert parse_headers(f"Message-ID: {value}\r\n\r\n".encode()).message_id is None


def test_a_nul_byte_in_a_header_is_dropped() -> None:
    # NUL bytes would break storage and display; the subject reads without it.
    assert parse_headers(raw("nul_in_header.eml")).subject == "Export file header test"


def test_a_whitespace_only_continuation_line_folds_into_one_subject() -> None:
    # A fold of blank continuation lines does not cut the subject short; unfolding removes
    # the line ends and keeps the spaces and tabs as written (RFC 5322 §2.2.3).
    headers = parse_headers(raw("whitespace_only_folded_header.eml"))

    assert headers.subject == "Updated pricing for the \t  Northwind renewal"


def test_dates_are_read_with_their_time_zone() -> None:
    # Date becomes an aware datetime in the sender's offset.
    date = parse_headers(raw("rfc2047_headers.eml")).date

    assert date == datetime(2024, 3, 11, 13, 5, tzinfo=timezone(timedelta(hours=1)))
    assert date is not None
    assert date.astimezone(UTC) == datetime(2024, 3, 11, 12, 5, tzinfo=UTC)


def test_an_unparseable_date_is_none() -> None:
    # "Tomorrow-ish, 32 Foo 2024 25:61:99" is no date; the rest of the headers still read.
    headers = parse_headers(raw("invalid_date.eml"))

    assert headers.date is None
    assert headers.subject == "Follow-up on price list"
    assert headers.message_id == "<baddate.0402.4d4d@example.test>"


def test_a_date_without_a_time_zone_is_none() -> None:
    # RFC 5322's "-0000" means the zone is unknown; a naive datetime is never handed on.
    headers = parse_headers(b"Date: Mon, 11 Mar 2024 13:05:00 -0000\r\n\r\n")

    assert headers.date is None


def test_in_reply_to_and_references_are_read_in_order() -> None:
    # The Outlook reply names the message it answers in both headers.
    headers = parse_headers(raw("outlook_reply_references.eml"))
    original = "<DB9PR01MB1234ABCD5678EF90A1B2C3D4E5F6A7B8@example.test>"

    assert headers.in_reply_to == (original,)
    assert headers.references == (original,)


def test_a_very_long_references_header_keeps_every_id() -> None:
    # A 10,000-character References line with 320 ids is read whole, oldest first.
    headers = parse_headers(raw("long_references_header.eml"))

    assert len(headers.references) == 320
    assert headers.references[0] == "<thread.0000.b6589fc6ab@example.test>"


def test_the_tracking_token_subject_is_read_as_written() -> None:
    # The subject carrying a token reaches correlation unchanged.
    assert (
        parse_headers(raw("tracking_token_subject.eml")).subject == "Re: Quote for Q3 CRM:0001001"
    )


def test_an_empty_file_gives_an_empty_summary() -> None:
    # Zero bytes: no id, no subject, no sender, no addresses.
    headers = parse_headers(b"")

    assert headers.message_id is None
    assert headers.subject == ""
    assert headers.sender is None
    assert headers.addresses() == set()


# --- conversation index and message ids ---------------------------------------------------


def test_the_conversation_id_is_the_first_22_bytes_of_the_thread_index() -> None:
    # Outlook's Thread-Index: 22 bytes name the conversation, 5 more per reply follow.
    assert parse_conversation_id(THREAD_INDEX) == CONVERSATION
    assert base64.b64decode(THREAD_INDEX).hex() == CONVERSATION


def test_a_reply_in_outlook_shares_the_conversation_of_the_original() -> None:
    # The reply's longer Thread-Index starts with the same 22 bytes.
    original = parse_headers(raw("outlook_thread_index.eml"))
    reply = parse_headers(raw("outlook_reply_references.eml"))

    assert original.conversation_id == CONVERSATION
    assert reply.conversation_id == CONVERSATION


@pytest.mark.parametrize("value", ["", "not base64!", "AQID", "Adp7LJ5A"])
def test_an_unreadable_or_short_thread_index_has_no_conversation(value: str) -> None:
    # Invalid base64 or fewer than 22 bytes name no conversation.
    assert parse_conversation_id(value) is None


def test_parse_message_ids_finds_every_bracketed_id_in_order() -> None:
    # References separate ids by spaces, folds or nothing at all.
    value = "<a@x.example>\r\n <b@x.example><c@x.example> junk <no spaces@x>"

    assert parse_message_ids(value) == ("<a@x.example>", "<b@x.example>", "<c@x.example>")
    assert parse_message_ids("") == ()


# --- the header block ---------------------------------------------------------------------


def test_split_header_block_stops_at_the_first_empty_line_with_crlf() -> None:
    # The header block ends with the CRLF CRLF separator; the body is not read.
    message = b"Subject: a\r\nTo: b@x\r\n\r\nbody\r\n\r\nmore"

    assert split_header_block(message) == b"Subject: a\r\nTo: b@x\r\n\r\n"


def test_split_header_block_stops_at_the_first_empty_line_with_lf() -> None:
    # Bare LF line endings, as stored by many Unix tools, split the same way.
    message = b"Subject: a\nTo: b@x\n\nbody\n\nmore"

    assert split_header_block(message) == b"Subject: a\nTo: b@x\n\n"


def test_split_header_block_returns_everything_when_there_is_no_body() -> None:
    # A headers-only message is all header block.
    assert split_header_block(raw("headers_only.eml")) == raw("headers_only.eml")


def test_content_hash_is_the_sha256_of_the_bytes() -> None:
    # Email without a Message-ID is identified by the hash of its bytes.
    assert content_hash(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert content_hash(raw("missing_message_id.eml")) != content_hash(raw("plain_ascii.eml"))


# --- the full parse -----------------------------------------------------------------------


def test_attachments_are_found_with_their_names_types_and_sizes() -> None:
    # The PDF and the CSV whose name is RFC 2231 encoded and continued over two lines.
    parsed = parse_email(raw("attachment_pdf_rfc2231.eml"))

    assert [(a.filename, a.content_type, len(a.content)) for a in parsed.attachments] == [
        ("Quote-Q-2024-0317.pdf", "application/pdf", 354),
        ("Kundenliste München € Q3.csv", "text/csv", 68),
    ]
    pdf, csv = parsed.attachments
    assert pdf.content.startswith(b"%PDF-1.4")
    assert csv.content.decode() == (
        "Kunde;Ort;Umsatz\nMüller GmbH;München;18400\nKästner AG;Köln;9200\n"
    )
    assert not pdf.inline
    assert parsed.text_body.startswith("Hello Stefan,")


def test_blocked_kinds_of_attachment_are_still_read_as_found() -> None:
    # Parsing finds the .exe and the .js; blocking them is for the attachment rules.
    parsed = parse_email(raw("attachment_blocked_exe_js.eml"))

    assert [(a.filename, len(a.content)) for a in parsed.attachments] == [
        ("invoice.exe", 171),
        ("script.js", 88),
    ]
    assert parsed.attachments[0].content.startswith(b"MZ")


def test_a_forwarded_message_counts_as_one_eml_attachment() -> None:
    # The forwarded email, with its own image inside, is one attachment holding that email.
    parsed = parse_email(raw("forwarded_rfc822.eml"))

    assert len(parsed.attachments) == 1
    forwarded = parsed.attachments[0]
    assert (forwarded.filename, forwarded.content_type) == (
        "Damaged shipment.eml",
        "message/rfc822",
    )
    inner = message_from_bytes(forwarded.content, policy=policy.default)
    assert inner["Subject"] == "Damaged shipment on order SO-24-0388"
    assert parsed.text_body.startswith("Team, see the customer's message below.")


def test_an_inline_image_keeps_its_content_id_for_the_html_body() -> None:
    # multipart/related: the logo is inline and referenced by cid: from the HTML.
    parsed = parse_email(raw("inline_image_related.eml"))

    assert [(a.filename, a.inline, a.content_id) for a in parsed.attachments] == [
        ("logo.png", True, "<logo.0316@example.test>"),
    ]
    assert parsed.html_body is not None
    assert "cid:logo.0316@example.test" in parsed.html_body


def test_an_unnamed_part_that_is_not_text_gets_a_numbered_name_by_its_type() -> None:
    # A picture without a name still needs one to be offered for download.
    raw_email = (
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nSee the picture.\r\n--b\r\n"
        b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n"
        b"--b--\r\n"
    )

    parsed = parse_email(raw_email)

    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("part-1.bin", "image/png"),
    ]


def test_the_parts_of_a_delivery_report_are_body_text_as_a_client_shows_them() -> None:
    # The DSN's status and the undelivered headers are unnamed inline text: body, not files.
    parsed = parse_email(raw("bounce_dsn.eml"))

    assert parsed.attachments == ()
    assert "Final-Recipient: rfc822; j.okafor@example.org\n" in parsed.text_body
    assert "Subject: Quote Q-2024-0322 for replacement parts\n" in parsed.text_body


def test_multipart_alternative_gives_both_bodies_and_no_attachments() -> None:
    # The plain and the HTML alternative are bodies, not attachments.
    parsed = parse_email(raw("multipart_alternative.eml"))

    assert parsed.text_body.startswith("Hi Dana,")
    assert parsed.html_body is not None
    assert parsed.html_body.startswith("<html>")
    assert parsed.attachments == ()


def test_a_latin1_body_is_decoded_by_its_declared_charset() -> None:
    # iso-8859-1 accents read correctly.
    assert "Suite à notre échange" in parse_email(raw("latin1_body.eml")).text_body


def test_an_unknown_charset_is_recorded_as_a_defect_and_the_body_kept() -> None:
    # x-unknown-foo cannot be decoded; the body is kept with replacement characters.
    parsed = parse_email(raw("unknown_charset.eml"))

    assert "UndecodableBody" in parsed.defects
    assert parsed.text_body.startswith("Hello,\n\nPlease send the current price list")


def test_a_nul_in_the_charset_name_is_a_defect_not_an_error() -> None:
    # The codec lookup refuses a name with a NUL in it; the body is read as UTF-8 instead.
    raw_email = b'Content-Type: text/plain; charset="utf\x008"\r\n\r\nHello\r\n'

    parsed = parse_email(raw_email)

    assert "UndecodableBody" in parsed.defects
    assert parsed.text_body == "Hello\n"


def test_a_missing_closing_boundary_is_a_defect_not_an_error() -> None:
    # The parts are complete; only the closing delimiter is missing.
    parsed = parse_email(raw("broken_missing_closing_boundary.eml"))

    assert "CloseBoundaryNotFoundDefect" in parsed.defects


def test_a_body_with_a_nul_byte_is_kept() -> None:
    # NUL inside a body line does not stop parsing.
    text = parse_email(raw("nul_in_body.eml")).text_body

    assert "ABC\x00DEF" in text


def test_headers_only_mail_has_an_empty_body() -> None:
    # No separator and no body: empty text, no HTML, nothing attached.
    parsed = parse_email(raw("headers_only.eml"))

    assert (parsed.text_body, parsed.html_body, parsed.attachments) == ("", None, ())
