"""Email activities: tracked email, with its parties, attachments and regarding record."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from tidings.domain.records import RecordRef


class Direction(enum.StrEnum):
    """Whether the owner received or sent the email."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


class ActivityStatus(enum.StrEnum):
    """D365's email status reasons that Tidings uses."""

    RECEIVED = "received"
    DRAFT = "draft"
    PENDING_SEND = "pending_send"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELED = "canceled"


class ParticipationRole(enum.StrEnum):
    """The part a party plays in an email (D365's participation type mask)."""

    FROM = "from"
    TO = "to"
    CC = "cc"
    BCC = "bcc"
    OWNER = "owner"


class CorrelationMethod(enum.StrEnum):
    """How the regarding record was found (D365's correlation method code)."""

    NONE = "none"
    FOLDER_RULE = "folder_rule"
    IN_REPLY_TO = "in_reply_to"
    TRACKING_TOKEN = "tracking_token"  # noqa: S105 - not a secret
    CONVERSATION_INDEX = "conversation_index"
    SMART_MATCHING = "smart_matching"


@dataclass(frozen=True)
class ActivityParty:
    """One address on the email, resolved to a record or kept unresolved (``party is None``)."""

    role: ParticipationRole
    address: str
    name: str = ""
    party: RecordRef | None = None

    @property
    def is_resolved(self) -> bool:
        return self.party is not None


@dataclass(frozen=True)
class Attachment:
    """An attachment of a tracked email; blocked ones keep their name and the reason."""

    filename: str
    content_type: str
    size: int
    blocked_reason: str | None = None
    content_id: str | None = None
    content: bytes | None = None

    @property
    def is_blocked(self) -> bool:
        return self.blocked_reason is not None


@dataclass
class EmailActivity:
    """A tracked email."""

    owner: RecordRef
    mailbox_id: int | None
    subject: str
    direction: Direction
    status: ActivityStatus
    message_id: str | None
    received_at: datetime | None
    text_body: str = ""
    html_body: str | None = None
    in_reply_to: str | None = None
    #: The References chain, bounded (``domain.conversation.bound_references``).
    references: tuple[str, ...] = ()
    #: The thread this email belongs to (``domain.conversation``).
    conversation_id: str | None = None
    #: Outlook's conversation index (the conversation part of its Thread-Index header).
    conversation_index: str | None = None
    subject_key: str = ""
    tracking_token: str | None = None
    regarding: RecordRef | None = None
    correlation: CorrelationMethod = CorrelationMethod.NONE
    #: The tracked email correlation found: the activity this one answers.
    matched_activity_id: int | None = None
    raw_message_id: int | None = None
    parties: list[ActivityParty] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    created_at: datetime | None = None
    id: int | None = None
    #: The matched activity while it is recorded in the same batch and has no id yet.
    unsaved_match: EmailActivity | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class SanitizedHtml:
    """An email's HTML made safe to show, and how many remote images were held back."""

    html: str
    blocked_remote_images: int = 0
