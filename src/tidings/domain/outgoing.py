"""Email written in the CRM and sent through its owner's mailbox, exactly once.

The message — Message-ID, tracking token, every byte — is fixed when it is queued, so each
attempt sends the same email. Sending moves through phases::

    QUEUED ──connect, MAIL, RCPT──▶ HANDED_OVER ──DATA accepted──▶ SENT
       ▲           │ refused / unreachable              │
       └───────────┘ (tried again, or FAILED)           └─ crash here: the server may hold it

HANDED_OVER is committed just before the message text goes to the server. A process that
dies after the server accepted the text but before SENT is committed leaves HANDED_OVER
behind; recovery never sends such an email again: it is marked failed with that reason, so
the worst a crash can do is ask a person to check, never send twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr


class OutboxPhase(enum.StrEnum):
    """How far sending one email got."""

    QUEUED = "queued"
    HANDED_OVER = "handed_over"
    SENT = "sent"
    FAILED = "failed"


INTERRUPTED_AFTER_HANDOVER = (
    "sending was interrupted after the message was handed to the server; it was not sent "
    "again, so it may have been delivered once: check the recipient or the Sent folder"
)


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
    #: For a reply: the Message-ID it answers and the References chain (RFC 5322 §3.6.4).
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()

    @property
    def recipients(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.to, *self.cc)))


def compose(email: OutgoingEmail) -> bytes:
    """The message as it will be sent, every attempt the same."""
    msg = EmailMessage()
    msg["From"] = formataddr((email.sender_name, email.sender_address))
    msg["To"] = ", ".join(email.to)
    if email.cc:
        msg["Cc"] = ", ".join(email.cc)
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(email.date)
    msg["Message-ID"] = email.message_id
    if email.in_reply_to:
        msg["In-Reply-To"] = email.in_reply_to
    if email.references:
        msg["References"] = " ".join(email.references)
    msg.set_content(email.body)
    return msg.as_bytes(policy=SMTP)


def subject_with_token(subject: str, token: str | None) -> str:
    """D365 puts the tracking token at the end of the subject."""
    return f"{subject} {token}" if token and token not in subject else subject
