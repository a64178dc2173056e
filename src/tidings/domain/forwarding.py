"""The original email inside a forward: attached whole (``message/rfc822``) or written inline
under the header block Outlook, Gmail or Apple Mail put above it.

Used by the tracking address: a person forwards an email there to track *that* email, with its
own parties and Message-ID, not the forward's.
"""

from __future__ import annotations

import base64
import quopri
import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage, Message
from email.utils import format_datetime, parsedate_to_datetime

from tidings.domain.message import parse_email

#: The line each client writes above the forwarded header block.
_MARKERS = re.compile(
    r"^\s*(?:-{2,}\s*(?:Original Message|Forwarded message)\s*-{2,}"  # Outlook, Gmail
    r"|Begin forwarded message:"  # Apple Mail
    r"|_{10,})\s*$",  # Outlook's rule above "From:/Sent:/To:/Subject:"
    re.IGNORECASE | re.MULTILINE,
)
_FIELD = re.compile(r"^(?:>\s?)?\*?([A-Za-z-]{2,20}):\*?\s*(.*)$")
#: Header names of each client's block, mapped to the header they stand for.
_FIELDS = {
    "from": "From",
    "sent": "Date",
    "date": "Date",
    "to": "To",
    "cc": "Cc",
    "subject": "Subject",
    "message-id": "Message-ID",
    "reply-to": "Reply-To",
}
#: Dates as Gmail ("Thu, Nov 19, 2026 at 10:30 AM") and Outlook ("Thursday, November 19,
#: 2026 10:30 AM") write them; RFC 5322 dates are read first.
_ZONE_NAME = re.compile(r"\s+[A-Z]{2,5}$")
_DATE_FORMATS = ("%a, %b %d, %Y at %I:%M %p", "%A, %B %d, %Y %I:%M %p", "%d %B %Y at %H:%M:%S")


def forwarded_original(raw: bytes) -> bytes | None:
    """The forwarded email as raw bytes, or ``None`` when ``raw`` forwards nothing.

    An attached original is returned as it was attached; an inline one is rebuilt from its
    header block and the text under it (it has no Message-ID unless the block names one).
    """
    msg = message_from_bytes(raw, policy=policy.compat32)
    attached = _attached_original(msg)
    if attached is not None:
        return attached
    text = parse_email(raw).text_body
    return _inline_original(text)


def _attached_original(msg: Message) -> bytes | None:
    for part in msg.walk():
        if part.get_content_type() != "message/rfc822":
            continue
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            continue
        encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
        # Some clients encode the attached email, which RFC 2046 does not allow.
        if encoding == "base64":
            return base64.b64decode(inner.as_bytes(), validate=False)
        if encoding == "quoted-printable":
            return quopri.decodestring(inner.as_bytes())
        return inner.as_bytes()
    return None


def _inline_original(text: str) -> bytes | None:
    marker = _MARKERS.search(text)
    if marker is None:
        return None
    lines = text[marker.end() :].lstrip("\r\n").splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    headers: dict[str, str] = {}
    last: str | None = None
    body_start = len(lines)
    for number, line in enumerate(lines):
        if not line.strip():
            body_start = number + 1
            break
        field = _FIELD.match(line)
        name = _FIELDS.get(field.group(1).lower()) if field else None
        if field is not None and name is not None:
            headers[name] = field.group(2).strip()
            last = name
        elif last is not None and line[:1].isspace():  # a long To: or Cc: wrapped
            headers[last] += " " + line.strip()
        else:
            body_start = number
            break
    if "From" not in headers or "Subject" not in headers:
        return None
    body = "\n".join(_unquote(line) for line in lines[body_start:]).strip() + "\n"
    return _rebuilt(headers, body)


def _unquote(line: str) -> str:
    return line[2:] if line.startswith("> ") else line


def _rebuilt(headers: dict[str, str], body: str) -> bytes:
    msg = EmailMessage(policy=policy.SMTP)
    for name in ("From", "To", "Cc", "Reply-To", "Subject"):
        value = headers.get(name, "").replace(";", ",")  # Outlook separates with ";"
        if value:
            msg[name] = value
    when = _date(headers.get("Date", ""))
    if when is not None:
        msg["Date"] = format_datetime(when)
    if headers.get("Message-ID"):
        msg["Message-ID"] = headers["Message-ID"]
    msg.set_content(body)
    return msg.as_bytes()


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is not None:
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    value = _ZONE_NAME.sub("", value)
    for pattern in _DATE_FORMATS:
        try:
            # The block names no zone (or only its name): read as UTC, the nearest guess
            # that keeps the original's day and order among the owner's email.
            return datetime.strptime(value, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None
