"""Bad input loses nothing: odd, broken and hostile email is stored byte for byte and decided.

DESIGN.md, "The path of one email": the raw bytes are kept first, and parsing is tolerant of
broken real-world mail. So whatever a mail server hands over — the corpus of real-world
breakage, a 50 MB message, NUL bytes, 8-bit headers, unknown charsets, a message cut short,
or generated garbage — is kept exactly and gets a decision (tracked or not, with its
reasons); at worst it is parked with its error, never dropped and never raised.
"""

from __future__ import annotations

import base64
import re
import tomllib
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.builders import Org, make_email
from tidings.adapters.storage import tables
from tidings.domain.attachments import UNREAD_PARTS_NAME, extension_of
from tidings.domain.settings import EmailConfiguration
from tidings.domain.tracking import Outcome, Verdict
from tidings.services.tracking.results import IngestResult

CORPUS = Path(__file__).parents[1] / "data" / "corpus"
MANIFEST: dict[str, dict[str, object]] = tomllib.loads(
    (CORPUS / "MANIFEST.toml").read_text(encoding="utf-8")
)
AUTOMATED = {"auto-reply", "bounce", "receipt", "automated"}
DEFAULTS = EmailConfiguration()
#: A block whose length is a multiple of 57 bytes (one line of base64) repeats as whole lines.
BIG_ATTACHMENT_BLOCK = bytes(range(256)) * 57
BIG_ATTACHMENT_BYTES = len(BIG_ATTACHMENT_BLOCK) * 3594  # 52,443,648 bytes: just over 50 MiB


def _stored_raw(org: Org, raw_message_id: int) -> bytes:
    with org.tidings.uow() as uow:
        return uow.raw_messages.require(raw_message_id).raw


def _park_report(org: Org, result: IngestResult) -> str:
    """What an assertion shows when an email parked: its stored error and traceback."""
    if result.outcome is not Outcome.PARKED:
        return f"outcome {result.outcome}: {result.summary}"
    return org.tidings.explain.by_raw_id(result.raw_message_id).parked_error or result.summary


def _assert_kept_and_decided(org: Org, raw: bytes, result: IngestResult) -> None:
    """The bytes are stored exactly, and the email was decided rather than parked."""
    assert result.outcome in (Outcome.TRACKED, Outcome.NOT_TRACKED), _park_report(org, result)
    assert _stored_raw(org, result.raw_message_id) == raw


def _stored_attachment_content(org: Org, activity_id: int) -> dict[str, bytes | None]:
    """Each recorded attachment's stored bytes (the read side does not load them)."""
    a = tables.attachments.c
    with org.tidings.engine.connect() as conn:
        rows = conn.execute(select(a.filename, a.content).where(a.activity_id == activity_id))
        return {filename: content for filename, content in rows}


def _failed_rules(org: Org, raw_message_id: int) -> list[str]:
    reasons = org.tidings.explain.by_raw_id(raw_message_id).reasons
    return [r.rule for r in reasons if r.verdict is Verdict.FAIL]


# --- 1. The corpus -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MANIFEST), ids=str)
def test_every_corpus_email_is_kept_exactly_and_decided_without_parking(
    org: Org, corpus_dir: Path, name: str
) -> None:
    # Each corpus file, however broken, is stored byte for byte and tracked unless automated.
    entry = MANIFEST[name]
    raw = (corpus_dir / name).read_bytes()

    result = org.deliver(raw)

    if entry["expect"] == "garbage":
        # Not an email at all (empty, random bytes): kept exactly, parked with the reason.
        assert result.outcome is Outcome.PARKED, result.summary
        assert _stored_raw(org, result.raw_message_id) == raw
        assert result.summary in ("parked: empty message", "parked: no header block")
        return
    _assert_kept_and_decided(org, raw, result)
    if entry["auto"] in AUTOMATED:
        assert result.outcome is Outcome.NOT_TRACKED, result.summary
        assert _failed_rules(org, result.raw_message_id) == ["automated_email"]
        return
    assert entry["auto"] == ""
    assert result.outcome is Outcome.TRACKED, result.summary
    activity = org.tidings.queries.activity(result.activity_id).activity
    contents = _stored_attachment_content(org, result.activity_id)
    for attachment in activity.attachments:
        if attachment.filename == UNREAD_PARTS_NAME:  # notes what was not read; no content
            assert attachment.is_blocked and attachment.size == 0
            continue
        blocked_kind = extension_of(attachment.filename) in DEFAULTS.blocked_extensions
        too_big = attachment.size > DEFAULTS.max_attachment_kb * 1024
        assert attachment.is_blocked == (blocked_kind or too_big), attachment.filename
        kept = contents[attachment.filename]
        if attachment.is_blocked:
            assert kept is None, attachment.filename
        else:
            assert kept is not None and len(kept) == attachment.size, attachment.filename


def test_the_corpus_manifest_names_every_file_in_the_corpus(corpus_dir: Path) -> None:
    # The parametrized corpus test covers every .eml on disk, not just the ones listed.
    on_disk = {p.name for p in corpus_dir.glob("*.eml")}
    assert on_disk == set(MANIFEST)


def test_executable_and_script_attachments_are_recorded_as_blocked_with_a_reason(
    org: Org, corpus_dir: Path
) -> None:
    # invoice.exe and script.js stay on the activity by name, blocked, without their content.
    raw = (corpus_dir / "attachment_blocked_exe_js.eml").read_bytes()

    result = org.deliver(raw)

    assert result.outcome is Outcome.TRACKED, result.summary
    activity = org.tidings.queries.activity(result.activity_id).activity
    by_name = {a.filename: a for a in activity.attachments}
    assert set(by_name) == {"invoice.exe", "script.js"}
    for name, extension in (("invoice.exe", "exe"), ("script.js", "js")):
        attachment = by_name[name]
        assert attachment.blocked_reason == (
            f"the extension .{extension} is blocked by the email configuration settings"
        )
        assert attachment.size > 0
    assert _stored_attachment_content(org, result.activity_id) == {
        "invoice.exe": None,
        "script.js": None,
    }


# --- 2. A 50 MB message --------------------------------------------------------------------


@pytest.fixture(scope="module")
def fifty_megabyte_email() -> bytes:
    """An email with a 50 MiB attachment, built once per module.

    The message is an ``EmailMessage`` written by the standard library; only the attachment's
    base64 body is spliced in afterwards, built from one repeated block of base64 lines, so
    the module holds about one copy of the 70 MB message rather than the several the
    standard library's encoder would make on the way.
    """
    placeholder = b"PLACEHOLDER-FOR-THE-BIG-ATTACHMENT"
    msg = EmailMessage()
    msg["From"] = "maria@contoso.example"
    msg["To"] = "dana@northwind.example"
    msg["Subject"] = "Site survey: full-resolution scans"
    msg["Message-ID"] = "<fifty-mb@contoso.example>"
    msg.set_content("Dana,\n\nthe scans are attached.\n\nMaria\n")
    msg.add_attachment(
        placeholder, maintype="application", subtype="octet-stream", filename="scans.tar"
    )
    skeleton = msg.as_bytes(policy=SMTP)
    before, found, after = skeleton.partition(base64.b64encode(placeholder) + b"\r\n")
    assert found, "the placeholder's base64 line is in the skeleton"
    block_lines = base64.encodebytes(BIG_ATTACHMENT_BLOCK).replace(b"\n", b"\r\n")
    repeats = BIG_ATTACHMENT_BYTES // len(BIG_ATTACHMENT_BLOCK)
    return b"".join([before, block_lines * repeats, after])


@pytest.mark.slow
def test_a_fifty_megabyte_email_is_tracked_with_its_attachment_blocked_for_size(
    org: Org, fifty_megabyte_email: bytes
) -> None:
    # A huge email is kept whole and tracked; its attachment is named but blocked for size.
    raw = fifty_megabyte_email

    result = org.deliver(raw)

    assert result.outcome is Outcome.TRACKED, _park_report(org, result)
    with org.tidings.uow() as uow:
        stored = uow.raw_messages.require(result.raw_message_id)
        assert stored.size == len(raw)
        assert stored.raw == raw
        del stored
    activity = org.tidings.queries.activity(result.activity_id).activity
    assert "the scans are attached" in activity.text_body
    (attachment,) = activity.attachments
    assert attachment.filename == "scans.tar"
    assert attachment.size == BIG_ATTACHMENT_BYTES
    assert _stored_attachment_content(org, result.activity_id) == {"scans.tar": None}
    assert attachment.blocked_reason == (
        f"{BIG_ATTACHMENT_BYTES} bytes exceeds the maximum attachment size of 5120 KB"
    )


# --- 3. Specific kinds of bad bytes ---------------------------------------------------------


def _mime_email(**changes: object) -> bytes:
    """A realistic multipart email: text, html and a small attachment."""
    options: dict[str, object] = {
        "html": "<p>Hello Dana,</p><p>could you send the quote?</p>",
        "attachments": [("terms.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 8, "application/pdf")],
    }
    options.update(changes)
    return make_email(**options)  # type: ignore[arg-type]


def _deliver_and_check(org: Org, raw: bytes) -> IngestResult:
    result = org.deliver(raw)
    _assert_kept_and_decided(org, raw, result)
    return result


def test_nul_bytes_anywhere_in_an_email_are_kept_and_the_email_is_tracked(org: Org) -> None:
    # A NUL in a header name, a value, an address, the Message-ID or the body breaks nothing.
    base = (
        b"From: Maria <maria@contoso.example>\r\n"
        b"To: dana@northwind.example\r\n"
        b"Subject: Quote\r\n"
        b"Message-ID: <nul-{n}@contoso.example>\r\n"
        b"\r\n"
        b"Hello Dana,\r\nthe quote follows.\r\n"
    )
    variants = [
        base.replace(b"Subject: Quote", b"Subject: Qu\0ote"),
        base.replace(b"Subject:", b"Sub\0ject:"),
        base.replace(b"maria@contoso", b"ma\0ria@contoso"),
        base.replace(b"<nul-{n}@", b"<nul-\0{n}@"),
        base.replace(b"the quote", b"the \0\0\0 quote"),
        base.replace(b"\r\n\r\n", b"\r\n\0\r\n"),
        b"\0" * 64 + base,
        base + b"\0" * 64,
    ]
    for number, variant in enumerate(variants):
        raw = variant.replace(b"{n}", str(number).encode())
        result = _deliver_and_check(org, raw)
        assert result.outcome is Outcome.TRACKED, (raw, result.summary)


def test_nul_bytes_in_a_tracked_body_and_attachment_are_recorded(org: Org) -> None:
    # The activity keeps a body with a NUL in it, and an attachment whose bytes include NULs.
    raw = _mime_email(
        body="before\0after\n",
        message_id="<nul-body@contoso.example>",
        attachments=[("zeros.bin", b"\0" * 1024, "application/octet-stream")],
    )
    result = _deliver_and_check(org, raw)
    assert result.outcome is Outcome.TRACKED
    activity = org.tidings.queries.activity(result.activity_id).activity
    assert "before" in activity.text_body
    assert "after" in activity.text_body
    (attachment,) = activity.attachments
    assert (attachment.filename, attachment.size) == ("zeros.bin", 1024)
    assert _stored_attachment_content(org, result.activity_id) == {"zeros.bin": b"\0" * 1024}


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (b"Subject", "Caf\u00e9 \u00e0 Paris \u2014 devis".encode()),
        (b"Subject", "Caf\u00e9 \u00e0 Paris".encode("latin-1")),
        (b"Subject", b"\xff\xfe\xfd invalid utf-8 \xc3\x28"),
        (b"From", "Jos\u00e9 M\u00fcller <jose@contoso.example>".encode()),
        (b"From", b"\xe9\xe8 <jose@contoso.example>"),
        (b"From", "jos\u00e9@m\u00fcller.example".encode()),
        (b"To", b"\x80\x81\x82 <dana@northwind.example>, \xff@\xff"),
        (b"Message-ID", b"<\xe9\xe8\xff@contoso.example>"),
        (b"In-Reply-To", b"<\xff@x> <caf\xc3\xa9@y>"),
        (b"Thread-Index", b"\xd0\xd1\xd2\xd3"),
        (b"Date", b"Mon, 32 \xe9t\xe9 2024 25:00:00 +9999"),
        (b"X-Caf\xc3\xa9", b"8-bit header name"),
    ],
    ids=lambda v: v.decode("ascii", "backslashreplace") if isinstance(v, bytes) else str(v),
)
def test_raw_eight_bit_bytes_in_headers_are_kept_and_the_email_is_decided(
    org: Org, header: bytes, value: bytes
) -> None:
    # RFC 6532 UTF-8, Latin-1 and invalid 8-bit bytes in any header never lose the email.
    lines = {
        b"From": b"Maria <maria@contoso.example>",
        b"To": b"dana@northwind.example",
        b"Subject": b"Quote",
        b"Message-ID": b"<eight-bit@contoso.example>",
        b"Date": b"Thu, 19 Nov 2026 10:30:00 +0000",
    }
    lines[header] = value
    raw = b"".join(name + b": " + v + b"\r\n" for name, v in lines.items())
    raw += b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nBody\r\n"

    result = _deliver_and_check(org, raw)

    assert result.outcome is Outcome.TRACKED, result.summary


@pytest.mark.parametrize(
    "content_type",
    [
        b'text/plain; charset="x-no-such-charset"',
        b"text/plain; charset=utf-7",
        b'text/plain; charset=""',
        b"text/plain; charset=\xff\xfe",
        b"text/plain; charset=utf-16",
        b"text/plain; charset=iso-2022-jp",
        b"text/plain; charset*=x-unknown''%E9",
        b"text/html; charset=unicode-1-1-utf-7",
        b"text/plain; charset=utf-8; charset=latin-1",
    ],
    ids=lambda v: v.decode("ascii", "backslashreplace"),
)
def test_unknown_or_odd_body_charsets_keep_the_email_and_track_it(
    org: Org, content_type: bytes
) -> None:
    # A body whose declared charset Python cannot (or should not) decode is still tracked.
    raw = (
        b"From: maria@contoso.example\r\n"
        b"To: dana@northwind.example\r\n"
        b"Subject: Charset trouble\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: " + content_type + b"\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"\xcf\xf0\xe8\xe2\xe5\xf2 \xc3\xa9 +AGEAYgBj- \x1b$B$3$s\x1b(B\r\n"
    )
    result = _deliver_and_check(org, raw)
    assert result.outcome is Outcome.TRACKED, result.summary
    activity = org.tidings.queries.activity(result.activity_id).activity
    assert activity.text_body or activity.html_body


@pytest.mark.parametrize(
    "header",
    [
        b"Subject: =?x-unknown?B?w6k=?= and =?utf-8?B?not-base64!?=",
        b"Subject: =?utf-8?Q?caf=C3=A9?==?bogus?Q?=E9?=",
        b"Subject: =??B??=",
        b"Subject: =?utf-8?X?what?=",
        b"From: =?x-unknown?B?TWFyaWE=?= <maria@contoso.example>",
        b"To: =?utf-8?B?RGFuYQ?= <dana@northwind.example>",
        b"Subject: =?\xc3\xa9?Q?caf=C3=A9?=",
        b"From: =?\xff?B?TWFyaWE=?= <maria@contoso.example>",
    ],
    ids=lambda v: v.decode("ascii", "backslashreplace"),
)
def test_malformed_encoded_words_and_unknown_header_charsets_keep_the_email(
    org: Org, header: bytes
) -> None:
    # RFC 2047 words with unknown charsets or bad encodings leave the header as written.
    name = header.split(b":", 1)[0]
    defaults = {
        b"From": b"From: maria@contoso.example",
        b"To": b"To: dana@northwind.example",
        b"Subject": b"Subject: Hello",
    }
    defaults[name] = header
    raw = b"\r\n".join(defaults.values()) + b"\r\n\r\nBody\r\n"

    result = _deliver_and_check(org, raw)

    assert result.outcome is Outcome.TRACKED, result.summary


@pytest.mark.parametrize(
    ("disposition", "encoding", "payload"),
    [
        (b"attachment; filename*=x-unknown''%E9%E8.txt", b"base64", b"aGVsbG8="),
        (b"attachment; filename*=utf-8''%FF%FE.pdf", b"base64", b"aGVsbG8="),
        (b"attachment; filename*0*=utf-8''a; filename*2=b.doc", b"base64", b"aGVsbG8="),
        (b'attachment; filename="=?x-unknown?B?w6k=?=.exe"', b"base64", b"aGVsbG8="),
        (b'attachment; filename="=?\xc3\xa9?B?w6k=?=.txt"', b"base64", b"aGVsbG8="),
        (b"attachment; filename=\xff\xfe.bin", b"base64", b"aGVsbG8="),
        (b'attachment; filename="data.bin"', b"x-uuencode", b"begin 644 x\n#86)C\n`\nend\n"),
        (b'attachment; filename="data.bin"', b"base65", b"not a real encoding"),
        (b'attachment; filename="data.bin"', b"base64", b"!!!! not base64 at all ####"),
        (b'attachment; filename="data.bin"', b"quoted-printable", b"=ZZ=\n=F"),
    ],
    ids=lambda v: v.decode("ascii", "backslashreplace"),
)
def test_unreadable_attachment_names_and_encodings_keep_the_email_and_its_attachment(
    org: Org, disposition: bytes, encoding: bytes, payload: bytes
) -> None:
    # An attachment with a filename or transfer encoding that cannot be decoded is still recorded.
    raw = (
        b"From: maria@contoso.example\r\n"
        b"To: dana@northwind.example\r\n"
        b"Subject: Odd attachment\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n'
        b"\r\n"
        b"--b1\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"\r\n"
        b"See attached.\r\n"
        b"--b1\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: " + disposition + b"\r\n"
        b"Content-Transfer-Encoding: " + encoding + b"\r\n"
        b"\r\n" + payload + b"\r\n"
        b"--b1--\r\n"
    )
    result = _deliver_and_check(org, raw)
    assert result.outcome is Outcome.TRACKED, result.summary
    activity = org.tidings.queries.activity(result.activity_id).activity
    assert "See attached." in activity.text_body
    assert len(activity.attachments) == 1


_LONG = b"a" * 1200


def _with_headers(*headers: bytes, body: bytes = b"Body\r\n") -> bytes:
    base = [b"From: maria@contoso.example", b"To: dana@northwind.example", b"Subject: Long"]
    names = {h.split(b":", 1)[0].lower() for h in headers}
    kept = [h for h in base if h.split(b":", 1)[0].lower() not in names]
    return b"\r\n".join([*kept, *headers]) + b"\r\n\r\n" + body


def _with_part(*part_headers: bytes) -> bytes:
    return _with_headers(
        b"MIME-Version: 1.0",
        b"Content-Type: multipart/mixed; boundary=b",
        body=b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b\r\n"
        + b"".join(h + b"\r\n" for h in part_headers)
        + b"\r\nxx\r\n--b--\r\n",
    )


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(_with_headers(b"Message-ID: <" + _LONG + b"@x>"), id="message-id"),
        pytest.param(_with_headers(b"In-Reply-To: <" + _LONG + b"@x>"), id="in-reply-to"),
        pytest.param(_with_headers(b"References: <" + _LONG + b"@x>"), id="references"),
        pytest.param(_with_headers(b"From: " + b"b" * 400 + b"@contoso.example"), id="address"),
        pytest.param(_with_headers(b"From: " + b"N" * 400 + b" <m@c.example>"), id="display-name"),
        pytest.param(_with_headers(b"Subject: " + _LONG * 20), id="subject"),
        pytest.param(_with_headers(b"Thread-Index: " + b"A" * 3000), id="thread-index"),
        pytest.param(
            _with_headers(b"To: " + b", ".join(b"r%d@x.example" % i for i in range(3000))),
            id="three-thousand-recipients",
        ),
        pytest.param(
            _with_part(b"Content-Type: image/png", b"Content-ID: <" + _LONG + b">"), id="content-id"
        ),
        pytest.param(
            _with_part(b'Content-Disposition: attachment; filename="' + _LONG + b'.png"'),
            id="filename",
        ),
        pytest.param(_with_part(b"Content-Type: image/" + _LONG), id="content-type"),
    ],
)
def test_over_long_header_values_are_kept_and_the_email_is_tracked(org: Org, raw: bytes) -> None:
    # Values longer than any column (RFC 5322 allows 998-char lines; spam ignores it) park nothing.
    result = _deliver_and_check(org, raw)
    assert result.outcome is Outcome.TRACKED, result.summary


def _without_message_id(raw: bytes) -> bytes:
    """``raw`` minus its Message-ID, so each prefix is a different email and is parsed whole."""
    return re.sub(rb"(?im)^message-id:[^\r\n]*\r?\n", b"", raw, count=1)


@pytest.mark.parametrize(
    ("source", "always_tracked"),
    [
        pytest.param("generated", True, id="multipart-with-attachment"),
        pytest.param("forwarded_rfc822.eml", True, id="forwarded-rfc822"),
        pytest.param("outlook_winmail_tnef.eml", True, id="tnef"),
        pytest.param("bounce_dsn.eml", False, id="bounce-multipart-report"),
    ],
)
def test_an_email_cut_short_at_any_point_is_kept_and_decided(
    org: Org, source: str, always_tracked: bool
) -> None:
    # A connection dropped mid-message: every prefix is stored exactly and decided, never
    # parked, once its first header field is whole; before that it is not an email yet.
    raw = _mime_email() if source == "generated" else (CORPUS / source).read_bytes()
    raw = _without_message_id(raw)
    step = max(1, len(raw) // 40)
    offsets = sorted({*range(0, len(raw), step), 1, 2, len(raw) - 1})
    first_field = raw.index(b":") + 1
    outcomes = []
    for offset in offsets:
        if offset < first_field:
            result = org.deliver(raw[:offset])
            assert result.outcome is Outcome.PARKED, (offset, result.summary)
            assert _stored_raw(org, result.raw_message_id) == raw[:offset]
            continue
        result = _deliver_and_check(org, raw[:offset])
        outcomes.append(result.outcome)
    if always_tracked:
        assert set(outcomes) == {Outcome.TRACKED}
    else:
        # A bounce is told apart by its headers: its first one, the null return path
        # (Return-Path: <>), already marks every cut that holds a whole header field.
        assert set(outcomes) == {Outcome.NOT_TRACKED}


def test_line_endings_of_every_kind_keep_the_email_and_track_it(org: Org) -> None:
    # LF, CRLF, bare CR, CR CR LF, LF CR and a mix of them all give a tracked email.
    lines = [
        b"From: maria@contoso.example",
        b"To: dana@northwind.example",
        b"Subject: Line endings",
        b"MIME-Version: 1.0",
        b'Content-Type: multipart/alternative; boundary="x"',
        b"",
        b"--x",
        b"Content-Type: text/plain",
        b"",
        b"plain text",
        b"--x",
        b"Content-Type: text/html",
        b"",
        b"<p>html</p>",
        b"--x--",
        b"",
    ]
    mixed = b"".join(line + (b"\r\n", b"\n", b"\r")[i % 3] for i, line in enumerate(lines))
    for raw in [*(eol.join(lines) for eol in (b"\n", b"\r\n", b"\r", b"\r\r\n", b"\n\r")), mixed]:
        result = _deliver_and_check(org, raw)
        assert result.outcome is Outcome.TRACKED, (raw, result.summary)


# --- 4. Generated garbage -------------------------------------------------------------------

HYPOTHESIS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_HEADER_NAMES = [
    "From",
    "To",
    "Cc",
    "Bcc",
    "Sender",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "Thread-Index",
    "Auto-Submitted",
    "X-Autoreply",
    "Precedence",
    "Return-Path",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-ID",
]
_SEPARATORS = [": ", ":", " : ", "::", "", "\t:", ":\r\n ", ": \n\t", "; ", ":\0"]
_LINE_ENDINGS = ["\r\n", "\n", "\r", "\r\r\n", "\n\r", ""]
_MIME_TYPES = [
    "multipart/mixed",
    "multipart/alternative",
    "multipart/related",
    "multipart/report",
    "multipart/signed",
    "multipart/",
    "message/rfc822",
    "message/delivery-status",
    "text/plain",
    "text/html",
    "text/rfc822-headers",
    "application/octet-stream",
    "application/ms-tnef",
    "image/png",
    "garbage",
    "",
]
_CHARSETS = [
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "utf-16",
    "utf-7",
    "iso-2022-jp",
    "x-unknown",
    "unknown-8bit",
    "",
    "\xff",
    "utf-8\0",
]
_ENCODINGS = [
    "7bit",
    "8bit",
    "binary",
    "base64",
    "quoted-printable",
    "x-uuencode",
    "uuencode",
    "bogus",
    "",
]

_small_text = st.text(max_size=30)
_any_bytes_text = st.one_of(
    _small_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=30),
)


_encoded_words = st.builds(
    lambda charset, encoding, text: b"=?%s?%s?%s?=" % (charset, encoding, text),
    st.sampled_from(_CHARSETS).map(lambda c: c.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"B", b"Q", b"b", b"q", b"X", b""]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=12).map(
        str.encode
    ),
)


@st.composite
def _boundaries(draw: st.DrawFn) -> bytes:
    return draw(
        st.one_of(
            st.sampled_from([b"b1", b"=_part_1", b"", b"--", b" b1 ", b"b1--", b'"']),
            st.binary(min_size=1, max_size=20).filter(lambda b: b"\n" not in b),
        )
    )


@st.composite
def _content_type(draw: st.DrawFn, boundary: bytes) -> bytes:
    mime = draw(st.sampled_from(_MIME_TYPES)).encode()
    params = []
    if draw(st.booleans()):
        quote = draw(st.sampled_from([b'"', b""]))
        params.append(b"boundary=" + quote + boundary + quote)
    if draw(st.booleans()):
        charset = draw(st.one_of(st.sampled_from(_CHARSETS), _small_text))
        params.append(b"charset=" + charset.encode("utf-8", "surrogatepass"))
    if draw(st.booleans()):
        report = draw(st.sampled_from([b"delivery-status", b"disposition-notification", b""]))
        params.append(b"report-type=" + report)
    if draw(st.booleans()):
        params.append(b"name=" + draw(_any_bytes_text))
    return b"; ".join([mime, *params])


@st.composite
def _header_lines(draw: st.DrawFn, boundary: bytes, eol: bytes) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 10))):
        name = draw(
            st.one_of(
                st.sampled_from(_HEADER_NAMES).map(str.encode),
                _any_bytes_text,
            )
        )
        separator = draw(st.sampled_from(_SEPARATORS)).encode()
        if name == b"Content-Type":
            value = draw(_content_type(boundary))
        elif name == b"Content-Transfer-Encoding":
            value = draw(st.sampled_from(_ENCODINGS)).encode()
        elif name == b"Content-Disposition":
            value = b"attachment; filename=" + draw(_any_bytes_text)
        else:
            value = draw(
                st.one_of(
                    _any_bytes_text,
                    _encoded_words,
                    _encoded_words.map(lambda w: w + b" <maria@contoso.example>"),
                    st.sampled_from(
                        [
                            b"maria@contoso.example",
                            b'Dana <dana@northwind.example>, ;;;,,, <"',
                            b"<id@x> <id2@y",
                            b"=?x-unknown?B?////?=",
                            b"=?utf-8?Q?=E2=82?=",
                            b"auto-replied",
                            b"Thu, 19 Nov 2026 10:30:00 +0000",
                            b"AcSz" * 10,
                            b"<>",
                        ]
                    ),
                )
            )
        # A value sometimes carries a fold onto a continuation line.
        if draw(st.booleans()):
            value += eol + draw(st.sampled_from([b" ", b"\t", b""])) + draw(_any_bytes_text)
        lines.append(name + separator + value)
    return b"".join(line + eol for line in lines)


@st.composite
def _mime_bodies(draw: st.DrawFn, boundary: bytes, eol: bytes, depth: int = 0) -> bytes:
    chunks = [draw(_any_bytes_text)]  # preamble
    for _ in range(draw(st.integers(0, 3))):
        chunks.append(b"--" + boundary + eol)
        chunks.append(draw(_header_lines(boundary, eol)))
        chunks.append(draw(st.sampled_from([eol, b"", eol + eol])))
        payload = draw(
            st.one_of(
                st.binary(max_size=200),
                st.binary(max_size=150).map(base64.encodebytes),
                _small_text.map(lambda s: s.encode("utf-8", "surrogatepass")),
                st.just(b"=E9=\r\n=ZZ=3D"),
                _mime_bodies(boundary, eol, depth + 1) if depth < 1 else st.just(b""),
            )
        )
        chunks.append(payload + eol)
    if draw(st.booleans()):
        chunks.append(b"--" + boundary + b"--" + eol)
    chunks.append(draw(_any_bytes_text))  # epilogue
    return b"".join(chunks)


@st.composite
def _garbled_emails(draw: st.DrawFn) -> bytes:
    """Header-like lines, MIME structure with random boundaries and encodings, maybe cut."""
    eol = draw(st.sampled_from(_LINE_ENDINGS)).encode()
    boundary = draw(_boundaries())
    headers = draw(_header_lines(boundary, eol))
    separator = draw(st.sampled_from([eol, b"", eol + eol, b"\r\n", b"\n"]))
    body = draw(_mime_bodies(boundary, eol))
    raw = headers + separator + body
    if draw(st.booleans()):
        raw = raw[: draw(st.integers(0, len(raw)))]
    return raw


def _assert_kept_or_parked_with_error(org: Org, raw: bytes, result: IngestResult) -> None:
    assert result.outcome in (Outcome.TRACKED, Outcome.NOT_TRACKED, Outcome.PARKED)
    assert _stored_raw(org, result.raw_message_id) == raw
    if result.outcome is Outcome.PARKED:
        parked = {p.raw_message_id: p for p in org.tidings.queries.parked()}
        assert result.raw_message_id in parked, raw
        assert parked[result.raw_message_id].error, raw


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@HYPOTHESIS
@given(raw=st.binary(max_size=4096))
def test_arbitrary_bytes_are_kept_and_decided_or_parked_with_their_error(
    org: Org, raw: bytes
) -> None:
    # Any bytes at all are stored exactly and end tracked, not tracked, or parked with an error.
    result = org.deliver(raw)
    _assert_kept_or_parked_with_error(org, raw, result)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@HYPOTHESIS
@given(raw=_garbled_emails())
def test_garbled_headers_and_mime_structure_are_kept_and_decided_or_parked_with_their_error(
    org: Org, raw: bytes
) -> None:
    # Email-shaped garbage (random headers, boundaries, charsets, encodings, cuts) loses nothing.
    result = org.deliver(raw)
    _assert_kept_or_parked_with_error(org, raw, result)
