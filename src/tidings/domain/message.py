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
import functools
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.message import Message
from email.parser import HeaderParser
from email.utils import parsedate_to_datetime

from tidings.domain.addresses import parse_address_list
from tidings.domain.filenames import safe_filename
from tidings.domain.header_text import (
    codec_for,
    decode_header_block,
    decode_words,
    neutral_line_ends,
    strip_comments,
    unfold,
)
from tidings.domain.header_text import decode_text as decode_text
from tidings.domain.mime_bounds import MAX_PARTS, UNREAD_TYPE, bound_structure
from tidings.domain.mime_elision import parse_message
from tidings.domain.mime_policy import CACHED_DEFAULT
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
    #: Automated-email headers besides the ones above, each as ``Name: value`` if present:
    #: the X-Autoreply family, X-Auto-Response-Suppress and List-Id.
    autoresponder: str = ""
    auto_response_suppress: str = ""
    list_id: str = ""
    #: Where the author asks replies to go instead of the sender (RFC 5322 §3.6.2); no
    #: party of the activity, only a reply's first recipients.
    reply_to: tuple[Address, ...] = ()

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
    #: The name as the email gives it, before ``safe_filename``: the blocked-extension
    #: check sees every spelling of it.
    name_as_written: str = ""


@dataclass(frozen=True)
class ParsedEmail:
    """The whole message, read once it is going to be tracked."""

    text_body: str
    html_body: str | None
    attachments: tuple[AttachmentPart, ...]
    defects: tuple[str, ...]
    #: What of a message too deep or too wide was not read, for the activity; "" if none.
    unread: str = ""


def content_hash(raw: bytes) -> str:
    """Identity of bytes that carry no usable Message-ID."""
    return hashlib.sha256(raw).hexdigest()


def email_identity(message_id: str | None, content_sha256: str) -> str:
    """What makes two copies of an email the same email: its Message-ID, else its bytes."""
    return message_id or f"sha256:{content_sha256}"


def split_header_block(raw: bytes) -> bytes:
    """The header section of ``raw``: everything before the first empty line."""
    match = _HEADER_END.search(raw)
    return raw if match is None else raw[: match.end()]


def parse_headers(raw: bytes) -> HeaderSummary:
    """Read the headers that decide tracking; never raises on malformed input."""
    block = neutral_line_ends(split_header_block(raw))
    headers = _COMPAT_HEADERS.parsestr(decode_header_block(block))
    senders = _addresses(headers, "From") or _addresses(headers, "Sender")
    content_type = _text(headers, "Content-Type").lower()
    autoresponder = _autoresponder(headers)
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
        auto_submitted=strip_comments(_text(headers, "Auto-Submitted")).strip().lower(),
        is_autoreply_flagged=bool(autoresponder),
        report_type=_report_type(content_type),
        precedence=strip_comments(_text(headers, "Precedence")).strip().lower(),
        return_path=_return_path(_text(headers, "Return-Path")),
        autoresponder=autoresponder,
        auto_response_suppress=_text(headers, "X-Auto-Response-Suppress").strip(),
        list_id=_text(headers, "List-Id").strip(),
        reply_to=_addresses(headers, "Reply-To"),
    )


def try_parse_headers(raw: bytes) -> HeaderSummary | None:
    """``parse_headers``, or ``None`` if it fails: the raw bytes must be kept regardless,
    and deciding later parses again and parks the email with the error."""
    try:
        return parse_headers(raw)
    except Exception:
        return None


#: Headers by which autoresponders (Exchange, Zimbra, vacation(1), ticket systems …) mark
#: their replies; any value but a "no" marks one.
_AUTORESPONDER_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autogenerated")


def _autoresponder(headers: Message) -> str:
    for name in _AUTORESPONDER_HEADERS:
        value = " ".join(_text(headers, name).split())
        if value and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value}"
    return ""


def _return_path(value: str) -> str | None:
    """The Return-Path as ``<address>``; ``<>`` is the null return path (RFC 5321 §4.5.5)."""
    bare = strip_comments(unfold(value)).strip()
    if not bare:
        return None
    return "<>" if bare.replace(" ", "") == "<>" else bare


def _text(headers: Message, name: str) -> str:
    value = headers.get(name)
    if value is None:
        return ""
    # compat32 hands back str, or a Header object for undecodable 8-bit bytes.
    return str(value)


def _addresses(headers: Message, name: str) -> tuple[Address, ...]:
    return _address_list(tuple(str(v) for v in headers.get_all(name) or ()))


#: Address headers repeat from email to email (the owner in To, the same correspondents):
#: reading one costs more than the rest of the header block, so each value is read once.
@functools.lru_cache(maxsize=4096)
def _address_list(values: tuple[str, ...]) -> tuple[Address, ...]:
    found = []
    for value in values:
        for display, written in parse_address_list(unfold(value)):
            address = _as_meant(written)
            if is_email_address(address):
                found.append(Address(display, normalize_address(address)))
    return tuple(found)


def _as_meant(address: str) -> str:
    """The address its writer meant. Some senders (Python's email package among them, with
    its default SMTP policy) write an international address's parts as encoded words,
    which RFC 2047 §5 forbids in an address: ``info@=?utf-8?q?stra=C3=9Fe?=.de`` stands for
    ``info@straße.de``. Decoded where that gives an address; else as written."""
    if "=?" not in address:
        return address
    decoded = decode_words(address)
    return decoded if is_email_address(decoded) else address


#: RFC 5322 §2.1.1: no line, and so no Message-ID, is longer than this.
MAX_MESSAGE_ID = 998


def parse_message_ids(value: str) -> tuple[str, ...]:
    """Every ``<id>`` in a Message-ID, In-Reply-To or References header, in order, without
    the comments around them; an id longer than a line may be is kept as ``fit_message_id``
    makes it."""
    if "(" in value:
        value = strip_comments(value)
    return tuple(fit_message_id(found) for found in _MSG_ID.findall(value))


def fit_message_id(message_id: str) -> str:
    """``message_id``, or for one longer than RFC 5322 allows a line to be, a stable id
    made of its SHA-256 (the whole id stays in the raw email): the same long id always
    gives the same short one, so replies still find it."""
    if len(message_id) <= MAX_MESSAGE_ID:
        return message_id
    digest = hashlib.sha256(message_id.encode("utf-8", "surrogateescape")).hexdigest()
    return f"<{digest}@long-message-id.invalid>"


def _first_message_id(value: str) -> str | None:
    ids = parse_message_ids(value)
    if ids:
        return ids[0]
    bare = strip_comments(unfold(value)).strip()
    usable = bare and " " not in bare and "@" in bare and "<" not in bare and ">" not in bare
    return fit_message_id(f"<{bare}>") if usable else None


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
    """Read bodies and attachments with ``policy.default``; defects are kept, not raised.

    ``policy.default`` parses a header anew on every access, which dominates the cost of
    reading a message: the parse shares parsed header values (``mime_policy``), and one walk
    over the parts reads each part's Content-Type and Content-Disposition once. The parser
    does not walk long base64 runs line by line (``mime_elision``): same message, part for
    part. A message deeper or wider than the parser can read is cut to what it can
    (``mime_bounds``), and what was left unread is noted.

    The body is what a mail client shows: every inline text part without a file name, in
    order (Apple Mail splits a body around its pictures; lists append footers), and of a
    ``multipart/alternative`` one plain and one HTML alternative; the other alternatives
    (``text/calendar``, ``text/enriched`` …) are no attachment unless they are named.
    """
    # Anything but bytes fails in the parse, as message_from_bytes fails.
    bounded, unread = (
        bound_structure(neutral_line_ends(raw)) if isinstance(raw, bytes) else (raw, "")
    )
    msg = parse_message(bounded, CACHED_DEFAULT)
    defects = [type(d).__name__ for d in msg.defects]
    found = _Found()
    _collect(msg, found)
    if not found.texts and not found.htmls and _is_unsplit_multipart(msg) and found.attachments:
        # A multipart without a usable boundary: its whole body is the only text there is.
        found.texts.append(found.attachments.pop(0))
    text = _joined(_lines(_leaf_text(leaf, defects)) for leaf in found.texts)
    html = _joined(_lines(_leaf_text(leaf, defects)) for leaf in found.htmls) or None
    made = (_attachment(leaf, n, defects) for n, leaf in enumerate(found.attachments, 1))
    # An unnamed empty part carries nothing worth keeping (often an empty preamble part).
    attachments = tuple(a for a in made if a.content or not a.filename.startswith("part-"))
    if found.skipped:
        unread = "; ".join(filter(None, (unread, f"only the first {MAX_PARTS} parts were read")))
    return ParsedEmail(text, html, attachments, tuple(defects), unread)


@dataclass
class _Found:
    """The parts of a message by the role a mail client gives them."""

    texts: list[_Leaf] = field(default_factory=list)
    htmls: list[_Leaf] = field(default_factory=list)
    attachments: list[_Leaf] = field(default_factory=list)
    leaves: int = 0
    skipped: int = 0

    def add(self, other: _Found, *, bodies: bool) -> None:
        if bodies:
            self.texts += other.texts
            self.htmls += other.htmls
            self.attachments += other.attachments
        else:
            self.attachments += [leaf for leaf in other.attachments if leaf.filename]
        self.leaves, self.skipped = other.leaves, other.skipped


#: Text parts shown as the body when inline and unnamed; a calendar is no body text.
_NOT_BODY_TEXT = frozenset({"text/calendar"})


def _collect(part: Message, found: _Found) -> None:
    """Sort the parts under ``part`` into bodies and attachments, at most ``MAX_PARTS``."""
    if found.leaves >= MAX_PARTS:
        found.skipped += 1
        return
    content_type = part.get_content_type()
    if part.is_multipart() and content_type not in ("message/rfc822", "message/delivery-status"):
        payload = part.get_payload()
        subs = (
            [sub for sub in payload if isinstance(sub, Message)]
            if isinstance(payload, list)
            else []
        )
        if content_type == "multipart/alternative":
            _collect_alternatives(subs, found)
            return
        for sub in subs:
            _collect(sub, found)
        return
    found.leaves += 1
    leaf = _Leaf.of(part)
    if leaf.content_type == UNREAD_TYPE:
        return
    inline_text = (
        (leaf.content_type.startswith("text/") or leaf.content_type == "message/delivery-status")
        and leaf.disposition != "attachment"
        and not leaf.filename
    )
    if inline_text and leaf.content_type == "text/html":
        found.htmls.append(leaf)
    elif inline_text and leaf.content_type not in _NOT_BODY_TEXT:
        found.texts.append(leaf)
    else:
        found.attachments.append(leaf)


def _collect_alternatives(subs: list[Message], found: _Found) -> None:
    """One body of the alternatives: the first plain one and the last (richest) HTML one."""
    results = []
    for sub in subs:
        each = _Found(leaves=found.leaves, skipped=found.skipped)
        _collect(sub, each)
        found.leaves, found.skipped = each.leaves, each.skipped
        results.append(each)
    text_from = next((r for r in results if r.texts), None)
    html_from = next((r for r in reversed(results) if r.htmls), None)
    for result in results:
        if result is text_from or result is html_from:
            found.texts += result.texts if result is text_from else []
            found.htmls += result.htmls if result is html_from else []
            found.attachments += result.attachments
        else:
            found.attachments += [leaf for leaf in result.attachments if leaf.filename]


def _joined(texts: Iterator[str]) -> str:
    """Body texts one after the other, each starting on a line of its own."""
    joined = ""
    for text in texts:
        if joined and text and not joined.endswith("\n"):
            joined += "\n"
        joined += text
    return joined


@dataclass(frozen=True)
class _Leaf:
    """A part that holds content, with its two MIME headers read once."""

    part: Message
    content_type: str
    params: dict[str, str]
    disposition: str | None
    disposition_params: dict[str, str]

    @classmethod
    def of(cls, part: Message) -> _Leaf:
        content_type, params = _structured(part, "Content-Type")
        disposition, disposition_params = _structured(part, "Content-Disposition")
        if not content_type or "/" not in content_type:
            content_type = part.get_default_type()
        return cls(part, content_type, params, disposition or None, disposition_params)

    @property
    def filename(self) -> str:
        return self.disposition_params.get("filename") or self.params.get("name") or ""


def _structured(part: Message, name: str) -> tuple[str, dict[str, str]]:
    """A MIME header's main value and parameters (RFC 2231 decoded by the header registry)."""
    try:
        header = part.get(name)
        if header is None:
            return "", {}
        value = getattr(header, "content_type", None) or getattr(header, "content_disposition", "")
        params = getattr(header, "params", {})
        return str(value or "").lower(), {k.lower(): str(v) for k, v in params.items()}
    except (AttributeError, LookupError, ValueError, TypeError, IndexError):
        return "", {}


def _lines(text: str) -> str:
    """Bodies are kept with newline line ends, whatever the wire used (RFC 5322 says CRLF)."""
    return text.replace("\r\n", "\n")


def _is_unsplit_multipart(msg: Message) -> bool:
    return msg.get_content_maintype() == "multipart" and not msg.is_multipart()


def _leaf_text(leaf: _Leaf, defects: list[str]) -> str:
    payload = leaf.part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        inner = leaf.part.get_payload()
        if isinstance(inner, list):  # message/delivery-status: one header block per entry
            return "\n".join(_block_text(sub) for sub in inner if isinstance(sub, Message))
        return str(inner)
    declared = leaf.params.get("charset", "").strip()
    codec = codec_for(declared) if declared else "utf_8"
    if codec == "ascii":  # 8-bit text under a 7-bit label: what the sender's client wrote
        codec = "utf_8" if _is_utf8(payload) else "cp1252"
    if codec is not None:
        return payload.decode(codec, "replace")
    defects.append("UndecodableBody")
    return payload.decode("utf-8") if _is_utf8(payload) else payload.decode("cp1252", "replace")


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _block_text(part: Message) -> str:
    try:
        return "".join(f"{name}: {value}\n" for name, value in part.items())
    except (LookupError, ValueError, TypeError, UnicodeError):
        return ""


def _attachment(leaf: _Leaf, number: int, defects: list[str]) -> AttachmentPart:
    as_written = decode_text(leaf.filename)
    filename = safe_filename(as_written) or f"part-{number}{_extension_for(leaf.content_type)}"
    content_id = leaf.part.get("Content-ID")
    return AttachmentPart(
        filename=filename,
        content_type=leaf.content_type,
        content=_payload_bytes(leaf, defects),
        content_id=str(content_id).strip() if content_id else None,
        inline=leaf.disposition == "inline",
        name_as_written=as_written,
    )


def _payload_bytes(leaf: _Leaf, defects: list[str]) -> bytes:
    if leaf.content_type == "message/rfc822":
        inner = leaf.part.get_payload()
        try:
            first = inner[0] if isinstance(inner, list) and inner else None
            return first.as_bytes() if isinstance(first, Message) else b""
        except (LookupError, ValueError, UnicodeError, TypeError):
            defects.append("UnreadableForwardedMessage")
            return b""
    payload = leaf.part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _extension_for(content_type: str) -> str:
    return {
        "message/rfc822": ".eml",
        "text/plain": ".txt",
        "text/html": ".html",
        "text/calendar": ".ics",
    }.get(content_type, ".bin")
