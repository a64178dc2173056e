"""Reading email: the few headers a decision needs, and the full message once it is tracked.

Deciding reads only the header block, split off the raw bytes without touching the body, and
only the headers the rules ask for: most email is not tracked, and this keeps rejecting it
cheap. Email that will be tracked is parsed whole with the standard library's
``policy.default``. Both paths tolerate broken mail: a header or a part that cannot be read
becomes a recorded defect, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import HeaderParser
from email.utils import getaddresses, parsedate_to_datetime

from tidings.domain.records import is_email_address, normalize_address

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MSG_ID = re.compile(r"<[^<>\s]+>")
_COMPAT_HEADERS = HeaderParser(policy=policy.compat32)
#: Outlook's Thread-Index starts with 22 bytes that name the conversation.
_THREAD_INDEX_CONVERSATION_BYTES = 22


@dataclass(frozen=True)
class Address:
    """One mailbox named in a header: display name and normalized address."""

    name: str
    address: str


@dataclass(frozen=True)
class MessageOrigin:
    """Where raw bytes came from: enough to fetch them again and to spot a repeat."""

    mailbox_id: int
    folder: str
    uidvalidity: int
    uid: str


@dataclass(frozen=True)
class HeaderSummary:
    """What the tracking rules and correlation need, read from the header block alone."""

    message_id: str | None
    subject: str
    sender: Address | None
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    date: datetime | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    conversation_id: str | None
    auto_submitted: str
    is_autoreply_flagged: bool
    report_type: str
    precedence: str
    return_path: str | None

    def addresses(self) -> set[str]:
        """Every address the email names, normalized."""
        found = {a.address for a in (*self.to, *self.cc, *self.bcc)}
        if self.sender is not None:
            found.add(self.sender.address)
        return found


@dataclass(frozen=True)
class AttachmentPart:
    """One attachment as found in the message."""

    filename: str
    content_type: str
    content: bytes
    content_id: str | None
    inline: bool


@dataclass(frozen=True)
class ParsedEmail:
    """The whole message, read once it is going to be tracked."""

    text_body: str
    html_body: str | None
    attachments: tuple[AttachmentPart, ...]
    defects: tuple[str, ...]


def content_hash(raw: bytes) -> str:
    """Identity of bytes that carry no usable Message-ID."""
    return hashlib.sha256(raw).hexdigest()


def split_header_block(raw: bytes) -> bytes:
    """The header section of ``raw``: everything before the first empty line."""
    match = _HEADER_END.search(raw)
    return raw if match is None else raw[: match.end()]


def parse_headers(raw: bytes) -> HeaderSummary:
    """Read the headers that decide tracking; never raises on malformed input."""
    headers = _COMPAT_HEADERS.parsestr(_decode_header_block(split_header_block(raw)))
    senders = _addresses(headers, "From") or _addresses(headers, "Sender")
    content_type = _text(headers, "Content-Type").lower()
    return HeaderSummary(
        message_id=_first_message_id(_text(headers, "Message-ID")),
        subject=decode_text(_text(headers, "Subject")),
        sender=senders[0] if senders else None,
        to=_addresses(headers, "To"),
        cc=_addresses(headers, "Cc"),
        bcc=_addresses(headers, "Bcc"),
        date=_date(_text(headers, "Date")),
        in_reply_to=parse_message_ids(_text(headers, "In-Reply-To")),
        references=parse_message_ids(_text(headers, "References")),
        conversation_id=parse_conversation_id(_text(headers, "Thread-Index")),
        auto_submitted=_text(headers, "Auto-Submitted").strip().lower(),
        is_autoreply_flagged=_flagged(headers, "X-Autoreply") or _flagged(headers, "X-Autorespond"),
        report_type=_report_type(content_type),
        precedence=_text(headers, "Precedence").strip().lower(),
        return_path=_text(headers, "Return-Path").strip() or None,
    )


def _decode_header_block(block: bytes) -> str:
    """Headers as text: UTF-8 where valid (RFC 6532), else Windows-1252, which never fails."""
    block = block.replace(b"\0", b"")
    try:
        return block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("cp1252", "replace")


def _flagged(headers: Message, name: str) -> bool:
    return _text(headers, name).strip().lower() not in ("", "no", "false", "0")


def _text(headers: Message, name: str) -> str:
    value = headers.get(name)
    if value is None:
        return ""
    # compat32 hands back str, or a Header object for undecodable 8-bit bytes.
    return str(value)


def decode_text(value: str) -> str:
    """Decode RFC 2047 encoded words, keeping whatever cannot be decoded as it is."""
    if "=?" not in value:
        return " ".join(value.split())
    try:
        return " ".join(str(make_header(decode_header(value))).split())
    except (LookupError, ValueError, UnicodeError, binascii.Error):
        return " ".join(value.split())


def _addresses(headers: Message, name: str) -> tuple[Address, ...]:
    values = headers.get_all(name) or []
    try:
        pairs = getaddresses([str(v) for v in values])
    except (ValueError, IndexError, TypeError):
        return ()
    found = []
    for display, address in pairs:
        if is_email_address(address):
            found.append(Address(decode_text(display), normalize_address(address)))
    return tuple(found)


def parse_message_ids(value: str) -> tuple[str, ...]:
    """Every ``<id>`` in a Message-ID, In-Reply-To or References header, in order."""
    return tuple(_MSG_ID.findall(value))


def _first_message_id(value: str) -> str | None:
    ids = parse_message_ids(value)
    if ids:
        return ids[0]
    bare = value.strip()
    return f"<{bare}>" if bare and " " not in bare and "@" in bare else None


def parse_conversation_id(thread_index: str) -> str | None:
    """The conversation part of Outlook's Thread-Index, or ``None`` if unreadable."""
    try:
        decoded = base64.b64decode(thread_index.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(decoded) < _THREAD_INDEX_CONVERSATION_BYTES:
        return None
    return decoded[:_THREAD_INDEX_CONVERSATION_BYTES].hex()


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _report_type(content_type: str) -> str:
    if not content_type.startswith("multipart/report"):
        return ""
    match = re.search(r"report-type\s*=\s*\"?([\w-]+)", content_type)
    return match.group(1) if match else "unknown"


def parse_email(raw: bytes) -> ParsedEmail:
    """Read bodies and attachments with ``policy.default``; defects are kept, not raised."""
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)  # noqa: S101 - policy.default builds EmailMessage
    defects = [type(d).__name__ for d in msg.defects]
    text_part = _body_part(msg, "plain")
    html_part = _body_part(msg, "html")
    if text_part is None and html_part is None and _is_unsplit_multipart(msg):
        # A multipart without a usable boundary: its whole body is the only text there is.
        text_part = msg
    text = _part_text(text_part, defects) if text_part is not None else ""
    html = _part_text(html_part, defects) if html_part is not None else None
    chosen = {id(p) for p in (text_part, html_part) if p is not None}
    attachments = tuple(_attachments(msg, chosen, defects))
    return ParsedEmail(text, html, attachments, tuple(defects))


def _is_unsplit_multipart(msg: EmailMessage) -> bool:
    return msg.get_content_maintype() == "multipart" and not msg.is_multipart()


def _body_part(msg: EmailMessage, subtype: str) -> EmailMessage | None:
    try:
        part = msg.get_body(preferencelist=(subtype,))
    except (KeyError, IndexError, ValueError, AttributeError):
        return None
    return part if isinstance(part, EmailMessage) else None


def _part_text(part: EmailMessage, defects: list[str]) -> str:
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except (LookupError, UnicodeError, ValueError, AssertionError, AttributeError):
        defects.append("UndecodableBody")
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload.decode("utf-8", "replace")
    return str(part.get_payload())


def _attachments(msg: EmailMessage, chosen: set[int], defects: list[str]) -> list[AttachmentPart]:
    leaves = (part for part in _leaf_parts(msg) if id(part) not in chosen)
    found = (_attachment(part, number, defects) for number, part in enumerate(leaves, 1))
    # An unnamed empty part carries nothing worth keeping (often an empty preamble part).
    return [a for a in found if a.content or not a.filename.startswith("part-")]


def _leaf_parts(part: Message) -> Iterator[Message]:
    """Parts that are not containers; a forwarded message counts as one part."""
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        yield part
        return
    payload = part.get_payload()
    for sub in payload if isinstance(payload, list) else ():
        if isinstance(sub, Message):
            yield from _leaf_parts(sub)


def _attachment(part: Message, number: int, defects: list[str]) -> AttachmentPart:
    try:
        filename = decode_text(part.get_filename() or "")
    except (LookupError, ValueError, UnicodeError):
        defects.append("UndecodableFilename")
        filename = ""
    content_type = part.get_content_type()
    if not filename:
        filename = f"part-{number}{_extension_for(content_type)}"
    payload = _payload_bytes(part, defects)
    content_id = part.get("Content-ID")
    disposition = part.get_content_disposition()
    return AttachmentPart(
        filename=filename,
        content_type=content_type,
        content=payload,
        content_id=str(content_id).strip() if content_id else None,
        inline=disposition == "inline",
    )


def _payload_bytes(part: Message, defects: list[str]) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        try:
            first = inner[0] if isinstance(inner, list) and inner else None
            return first.as_bytes() if isinstance(first, Message) else b""
        except (LookupError, ValueError, UnicodeError, TypeError):
            defects.append("UnreadableForwardedMessage")
            return b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _extension_for(content_type: str) -> str:
    return {"message/rfc822": ".eml", "text/plain": ".txt", "text/html": ".html"}.get(
        content_type, ".bin"
    )
