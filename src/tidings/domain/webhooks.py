"""Webhooks: who wants to hear of which activity events, how a delivery is signed, and how
long a failing receiver waits before the next try.

A delivery moves ``pending → delivered`` on a 2xx answer, or back to ``pending`` with a
later ``next_attempt_at`` after a failure, until ``max_attempts`` failures make it
``failed``::

    pending ──2xx──▶ delivered
       │ ▲
  error│ │ attempts < max: wait base·2^(n-1), full jitter, at most cap
       ▼ │
    (retry) ──attempts = max──▶ failed
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from tidings.domain.activity import EmailActivity
from tidings.domain.errors import FieldValueError

#: The header receivers verify: ``t=<unix seconds>,v1=<hex HMAC-SHA256>``.
SIGNATURE_HEADER = "X-Tidings-Signature"


class EventType(enum.StrEnum):
    """What a subscription can ask to hear of."""

    ACTIVITY_CREATED = "activity.created"
    ACTIVITY_UPDATED = "activity.updated"
    ACTIVITY_SENT = "activity.sent"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass
class WebhookSubscription:
    """A receiver's URL and the events it wants; its secret is kept sealed, apart."""

    url: str
    events: frozenset[EventType]
    active: bool = True
    created_at: datetime | None = None
    id: int | None = None
    #: Who subscribed: events reach the receiver only about activities this user may read.
    #: ``None`` for a subscription from before access levels: Organization-wide.
    owner_id: int | None = None


@dataclass(frozen=True)
class WebhookEvent:
    """Something that happened, kept in the outbox until handed to every subscription."""

    type: EventType
    data: dict[str, object]
    occurred_at: datetime
    id: int | None = None


@dataclass(frozen=True)
class DeliveryAttempt:
    """One try at handing an event to a receiver."""

    number: int
    attempted_at: datetime
    status_code: int | None
    error: str | None


@dataclass(frozen=True)
class WebhookDelivery:
    """One event for one subscription, with how its tries went."""

    id: int
    event_id: int
    event_type: EventType
    subscription_id: int
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    history: tuple[DeliveryAttempt, ...] = field(default=())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing receiver is retried."""

    max_attempts: int = 8
    base: timedelta = timedelta(seconds=30)
    cap: timedelta = timedelta(hours=1)
    timeout: timedelta = timedelta(seconds=10)

    def delay(self, attempts: int, fraction: float) -> timedelta:
        """The wait after the ``attempts``-th failure: exponential, capped, with full jitter
        (``fraction`` in [0, 1)) so that receivers coming back are not hit all at once."""
        ceiling: timedelta = min(self.cap, self.base * 2 ** max(attempts - 1, 0))
        floor: timedelta = self.base / 2
        return max(ceiling * fraction, floor)


#: A URL's authority holding a user name (and perhaps a password): ``scheme://user@host``.
_USERINFO = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#]*@", re.IGNORECASE)


def check_url(url: str) -> str:
    """A receiver's URL: absolute http(s) with a host, and no user name or password in it
    (it would be kept and shown as it is; each delivery is signed instead)."""
    url = url.strip()
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise _bad("url", "a webhook URL has no spaces or control characters")
    if _USERINFO.match(url):
        # Not repeated in the message: what comes before the @ may be a password.
        raise _bad(
            "url",
            "a webhook URL cannot hold a user name or password (user:password@host): each "
            "delivery is signed with the subscription's secret (the X-Tidings-Signature "
            "header), which the receiver checks instead",
        )
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as error:  # a bracketed host that is no IPv6 address, port 99999 …
        raise _bad("url", f"{url!r} is not a valid URL: {error}") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad("url", f"{url!r} is not an http:// or https:// URL")
    if len(url) > 2000:
        raise _bad("url", "a webhook URL is at most 2000 characters")
    return url


def check_events(names: list[str]) -> frozenset[EventType]:
    """The events a subscription asks for: at least one, each known."""
    if not names:
        raise _bad("events", "choose at least one event")
    known = ", ".join(e.value for e in EventType)
    try:
        return frozenset(EventType(name) for name in names)
    except ValueError:
        raise _bad("events", f"events must be among {known}") from None


def _bad(field: str, problem: str) -> FieldValueError:
    return FieldValueError({field: problem}, problem)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def activity_payload(activity: EmailActivity) -> dict[str, object]:
    """What an activity event tells receivers: the activity without its bodies."""
    return {
        "id": activity.id,
        "subject": activity.subject,
        "direction": activity.direction.value,
        "status": activity.status.value,
        "message_id": activity.message_id,
        "owner": str(activity.owner),
        "mailbox_id": activity.mailbox_id,
        "regarding": str(activity.regarding) if activity.regarding else None,
        "conversation_id": activity.conversation_id,
        "received_at": activity.received_at.isoformat() if activity.received_at else None,
        "parties": [
            {
                "role": p.role.value,
                "address": p.address,
                "name": p.name,
                "record": str(p.party) if p.party else None,
            }
            for p in activity.parties
        ],
    }


@dataclass(frozen=True)
class DueDelivery:
    """A delivery claimed for a try, with what sending it needs."""

    id: int
    attempts: int
    url: str
    sealed_secret: str
    event: WebhookEvent
