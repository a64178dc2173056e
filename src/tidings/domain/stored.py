"""Stored email as services and storage exchange it: raw bytes, decisions, parked email."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tidings.domain.activity import ActivityStatus, Direction
from tidings.domain.grid import ACTIVITY_DEFAULT_SORT, DateRange, Sort
from tidings.domain.message import MessageOrigin
from tidings.domain.outgoing import OutboxPhase
from tidings.domain.records import RecordRef
from tidings.domain.tracking import Correlation, Outcome, TrackingDecision


@dataclass(frozen=True)
class NewRaw:
    """Raw bytes about to be kept."""

    origin: MessageOrigin
    raw: bytes
    message_id: str | None
    content_hash: str
    stored_at: datetime


@dataclass(frozen=True)
class StoredRaw:
    """Raw bytes as kept, with where they came from."""

    id: int
    origin: MessageOrigin
    message_id: str | None
    content_hash: str
    size: int
    stored_at: datetime
    raw: bytes


@dataclass(frozen=True)
class StoredDecision:
    """A decision as kept for one raw email."""

    raw_message_id: int
    outcome: Outcome
    summary: str
    decision: TrackingDecision
    correlation: Correlation
    activity_id: int | None
    decided_at: datetime


@dataclass(frozen=True)
class ParkedEmail:
    """An email whose processing failed, kept with its error until replayed."""

    id: int
    raw_message_id: int
    stage: str
    error_type: str
    error: str
    attempts: int
    parked_at: datetime
    message_id: str | None
    mailbox_address: str
    folder: str


@dataclass(frozen=True)
class ActivityFilter:
    """Which activities a list shows."""

    mailbox_id: int | None = None
    party: RecordRef | None = None
    party_address: str | None = None
    regarding: RecordRef | None = None
    #: Only the activities of this conversation.
    conversation_id: str | None = None
    #: Words to find in the subject or in a party's address or name.
    text: str | None = None
    direction: Direction | None = None
    status: ActivityStatus | None = None
    owner: RecordRef | None = None
    #: Days received (or, for email never received, created), both ends included.
    received: DateRange = field(default_factory=DateRange)
    #: Only activities tracked at or after this instant (the "Tracked today" view).
    created_since: datetime | None = None
    sort: Sort = ACTIVITY_DEFAULT_SORT
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class OutboxItem:
    """An email waiting in (or gone through) the outbox."""

    activity_id: int
    mailbox_id: int
    raw: bytes
    envelope_from: str
    recipients: tuple[str, ...]
    phase: OutboxPhase
    attempts: int = 0
    last_error: str | None = None
    #: A ``domain.outgoing.SentCopyState`` value once sent; ``None`` before.
    sent_copy: str | None = None
    copy_attempts: int = 0
