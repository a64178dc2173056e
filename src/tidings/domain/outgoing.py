"""Email written in the CRM and sent through its owner's mailbox, exactly once.

The message — Message-ID, tracking token, every byte — is fixed when it is queued, so each
attempt sends the same email. Sending moves through phases::

    QUEUED ─claim─▶ SENDING ──connect, MAIL, RCPT──▶ HANDED_OVER ──DATA accepted──▶ SENT
       ▲               │ refused / unreachable            │   │
       └───────────────┘ (tried again, or FAILED)         │   └─ crash: the server may hold it
                                                          └─ server answered no: FAILED

SENDING is committed when a worker takes the email, so a person sees it moving; nothing has
reached the server yet, so if that worker stops there the email goes back in the queue once
its lease has run out (until then it may be another worker's send in progress). HANDED_OVER
is committed just before the message text goes to the server. A process that dies after the
server accepted the text but before SENT is committed leaves HANDED_OVER behind; recovery
never sends such an email again: it is marked failed with that reason, so the worst a crash
can do is ask a person to check, never send twice. Such an email is retried only when a
person confirms it did not arrive. A plain refusal (the server answered 4xx/5xx to the text)
sent nothing and may be retried freely.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import format_datetime, formataddr, make_msgid, quote

from tidings.domain.address_forms import WireAddress, ascii_domain, on_the_wire
from tidings.domain.errors import MailServerError, ValidationError


class OutboxPhase(enum.StrEnum):
    """How far sending one email got."""

    QUEUED = "queued"
    SENDING = "sending"
    HANDED_OVER = "handed_over"
    SENT = "sent"
    FAILED = "failed"


INTERRUPTED_AFTER_HANDOVER = (
    "sending was interrupted after the message was handed to the server; it was not sent "
    "again, so it may have been delivered once: check the recipient or the Sent folder"
)


class SentCopyState(enum.StrEnum):
    """Whether the copy of a sent email is in the owner's Sent folder yet."""

    PENDING = "pending"
    SAVED = "saved"
    #: Given up after repeated failures; an alert on the mailbox says so.
    MISSING = "missing"
    #: The profile keeps no copy (the mail API saves its own, or the option is off).
    NOT_NEEDED = "not_needed"


class MessageRefusedError(MailServerError):
    """The server answered the message text with a refusal: nothing was delivered."""


def may_retry(phase: OutboxPhase, last_error: str | None, *, confirmed: bool) -> str | None:
    """Why a failed email may not be queued again, or ``None`` when it may."""
    if phase is not OutboxPhase.FAILED:
        return f"only a failed email can be retried; this one is {phase.value.replace('_', ' ')}"
    if last_error == INTERRUPTED_AFTER_HANDOVER and not confirmed:
        return (
            "this email may have been delivered already (sending was interrupted after the "
            "server received it); confirm that it did not arrive to send it again"
        )
    return None


@dataclass(frozen=True)
class OutgoingAttachment:
    """A file attached to an email written in the CRM."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True)
class OutgoingEmail:
    """What the CRM user wrote, addressed and identified."""

    sender_name: str
    sender_address: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    body: str
    message_id: str
    date: datetime
    bcc: tuple[str, ...] = ()
    html_body: str | None = None
    #: For a reply: the Message-ID it answers and the References chain (RFC 5322 §3.6.4).
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    attachments: tuple[OutgoingAttachment, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        """Everyone the server delivers to: Bcc recipients are in the envelope only."""
        return tuple(dict.fromkeys((*self.to, *self.cc, *self.bcc)))


#: Text parts in quoted-printable or base64, never raw 8-bit: RFC 6152 lets a client send
#: 8-bit data only to a server that offers 8BITMIME and only when MAIL FROM says
#: BODY=8BITMIME, and a relay that must make such a body 7-bit for the next hop rewrites
#: it, breaking the DKIM signature the sender's server put on it.
_SEVEN_BIT_BODIES = SMTP.clone(cte_type="7bit")


def compose(email: OutgoingEmail) -> bytes:
    """The message as it will be sent, every attempt the same.

    With an HTML body it is multipart/alternative (text first, as RFC 2046 orders the
    choices); Bcc recipients never appear in a header. Addresses are written as
    ``address_forms`` says: international domains as A-labels, and the whole header in
    UTF-8 (RFC 6532) only where a local part is not ASCII.
    """
    sender = on_the_wire(email.sender_address)
    to = [on_the_wire(address) for address in email.to]
    cc = [on_the_wire(address) for address in email.cc]
    for address in email.bcc:  # in no header, but each must have a form to be sent to
        on_the_wire(address)
    utf8 = any(address.needs_utf8 for address in (sender, *to, *cc))
    msg = EmailMessage(policy=_SEVEN_BIT_BODIES)
    msg["From"] = _mailbox(email.sender_name, sender)
    if to:
        msg["To"] = ", ".join(address.text for address in to)
    if cc:
        msg["Cc"] = ", ".join(address.text for address in cc)
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(email.date)
    msg["Message-ID"] = email.message_id
    if email.in_reply_to:
        msg["In-Reply-To"] = email.in_reply_to
    if email.references:
        msg["References"] = " ".join(email.references)
    msg.set_content(email.body)
    if email.html_body is not None:
        msg.add_alternative(email.html_body, subtype="html")
    for attachment in email.attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not subtype:
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(
            attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename
        )
    return msg.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)


def _mailbox(name: str, address: WireAddress) -> str:
    """``name <address>``, the name quoted or encoded as the header needs."""
    if not address.needs_utf8:
        return formataddr((name, address.text))
    # formataddr refuses a non-ASCII local part; under UTF-8 headers the name needs no
    # encoding, only quoting.
    return f'"{quote(name)}" <{address.text}>' if name else address.text


def new_message_id(sender_address: str) -> str:
    """A new Message-ID in the sender's domain, written in ASCII as a msg-id must be (RFC
    5322 §3.6.4): an international domain as its A-label."""
    try:
        domain = ascii_domain(sender_address.rpartition("@")[2])
    except ValidationError:
        domain = ""
    # Never make_msgid's own default, the host's name: looking it up may wait on DNS.
    return make_msgid(domain=domain or "tidings.invalid")


def subject_with_token(subject: str, token: str | None) -> str:
    """D365 puts the tracking token at the end of the subject."""
    return f"{subject} {token}" if token and token not in subject else subject
