"""Writing activity events to the outbox, in the caller's transaction: an event exists
exactly when the change it reports was committed, and the worker delivers it later.

An event of a kind no active subscription asks for is not written at all: the worker would
only drop it, and a batch of a hundred emails would write and delete a hundred rows for
nobody. A subscription hears of changes committed after it was; one created while a change
is being committed may or may not hear of that change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidings.domain.activity import EmailActivity
from tidings.domain.webhooks import EventType, WebhookEvent, activity_payload
from tidings.services.ports import UnitOfWork


def _add(uow: UnitOfWork, event: WebhookEvent) -> None:
    if event.type in uow.events.listened():
        uow.events.add(event)


def activity_created(uow: UnitOfWork, activity: EmailActivity, now: datetime) -> None:
    """An email was recorded as an activity."""
    _add(uow, WebhookEvent(EventType.ACTIVITY_CREATED, activity_payload(activity), now))


def activities_created(uow: UnitOfWork, activities: Sequence[EmailActivity]) -> None:
    """Emails of one batch recorded as activities, each at its own creation time."""
    if EventType.ACTIVITY_CREATED not in uow.events.listened():
        return
    uow.events.add_many(
        [
            WebhookEvent(EventType.ACTIVITY_CREATED, activity_payload(a), a.created_at)
            for a in activities
            if a.created_at is not None
        ]
    )


def activity_updated(uow: UnitOfWork, activity: EmailActivity, now: datetime) -> None:
    """An activity changed: tracked or untracked by hand, a new regarding record …"""
    _add(uow, WebhookEvent(EventType.ACTIVITY_UPDATED, activity_payload(activity), now))


def activity_untracked(uow: UnitOfWork, activity: EmailActivity, now: datetime) -> None:
    """An activity was untracked by hand: reported as an update whose ``untracked`` is true,
    the activity as it was just before."""
    payload = {**activity_payload(activity), "untracked": True}
    _add(uow, WebhookEvent(EventType.ACTIVITY_UPDATED, payload, now))


def activity_sent(uow: UnitOfWork, activity_id: int, now: datetime) -> None:
    """Email written in the CRM was handed to the mail server and is now *sent*."""
    activity = uow.activities.get(activity_id)
    if activity is not None:
        _add(uow, WebhookEvent(EventType.ACTIVITY_SENT, activity_payload(activity), now))
