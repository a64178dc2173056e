"""Stage 6, record: the email activity, its parties and attachments (each admitted or
blocked: size limit, blocked extensions) and the decision, in the batch's transaction,
idempotently: the same email seen twice is one activity unless the org asks for two.

A batch records all its tracked email in a few statements (``insert_activities``); email
recorded one by one (smart matching, a halved batch, tracking by hand) is recorded from its
headers first and gets its body and attachments once it is parsed whole (``fill_content``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tidings.domain.activity import Attachment, EmailActivity
from tidings.domain.attachments import admit_attachment, unread_parts_entry
from tidings.domain.message import ParsedEmail
from tidings.domain.settings import EmailConfiguration
from tidings.domain.stored import StoredDecision, StoredRaw
from tidings.domain.tracking import Outcome, TrackingFacts
from tidings.services.ports import UnitOfWork
from tidings.services.tracking import tell
from tidings.services.tracking.batch_lookups import BatchLookups
from tidings.services.tracking.correlate import build_activity
from tidings.services.tracking.gather_facts import identity_of


@dataclass(frozen=True)
class Tracked:
    """A tracked email of a batch, decided and correlated, waiting to be recorded."""

    stored: StoredRaw
    #: Its decision as kept had it not been tracked; recorded with the activity's id.
    decision: StoredDecision
    activity: EmailActivity


def record_together(
    uow: UnitOfWork,
    tracked: Sequence[Tracked],
    parsed: Callable[[StoredRaw], ParsedEmail],
    config_of: Callable[[StoredRaw], EmailConfiguration],
) -> list[StoredDecision]:
    """Record the tracked email of a batch in a few statements: each activity with its
    body and attachments (``parsed`` waits for the parse workers), then the decisions.
    Returns the decisions as recorded."""
    for item in tracked:
        add_content(item.activity, parsed(item.stored), config_of(item.stored))
    insert_activities(uow, [(item.activity, identity_of(item.stored)) for item in tracked])
    decisions = [
        replace(item.decision, outcome=Outcome.TRACKED, activity_id=item.activity.id)
        for item in tracked
    ]
    uow.decisions.add_many(decisions)
    return decisions


def record_activity(
    uow: UnitOfWork, lookups: BatchLookups, stored: StoredRaw, facts: TrackingFacts, now: datetime
) -> int:
    """Correlate, record and tell a tracked email from its headers; returns the activity's id.

    Body and attachments come later (``fill_content``), once the whole message is parsed,
    which may happen in another process meanwhile.
    """
    activity = build_activity(uow, lookups, stored, facts, now)
    save_activities(uow, [(activity, identity_of(stored))])
    assert activity.id is not None  # noqa: S101 - saved activities have ids
    lookups.activity_recorded(activity, identity_of(stored))
    return activity.id


def save_activities(uow: UnitOfWork, activities: Sequence[tuple[EmailActivity, str]]) -> None:
    """Record email activities and tell of them (``insert_activities``, then ``tell``)."""
    insert_activities(uow, activities)
    tell.activities_recorded(uow, [activity for activity, _ in activities])


def insert_activities(uow: UnitOfWork, activities: Sequence[tuple[EmailActivity, str]]) -> None:
    """Create email activities (each with the identity of its email); sets their ids.

    An activity that answers another saved in the same statement learns its id only now.
    """
    uow.activities.add_many(activities)
    matched = []
    for activity, _ in activities:
        match = activity.unsaved_match
        if activity.matched_activity_id is None and match is not None and match.id is not None:
            activity.matched_activity_id = match.id
            assert activity.id is not None  # noqa: S101 - saved above
            matched.append((activity.id, match.id))
        activity.unsaved_match = None
    if matched:
        uow.activities.set_matched(matched)


def fill_content(
    uow: UnitOfWork, activity_id: int, parsed: ParsedEmail, config: EmailConfiguration
) -> None:
    """Give a recorded activity its body and attachments, each admitted or blocked."""
    attachments = admitted_attachments(parsed, config)
    uow.activities.set_content(activity_id, parsed.text_body, parsed.html_body, attachments)


def add_content(activity: EmailActivity, parsed: ParsedEmail, config: EmailConfiguration) -> None:
    """Give an activity not saved yet its body and attachments, each admitted or blocked."""
    activity.text_body, activity.html_body = parsed.text_body, parsed.html_body
    activity.attachments = admitted_attachments(parsed, config)


def admitted_attachments(parsed: ParsedEmail, config: EmailConfiguration) -> list[Attachment]:
    """Every attachment of the email, kept or blocked with the reason; parts of a message
    too deep or too wide to read are noted as one blocked entry, so the activity says so."""
    admitted = [admit_attachment(part, config) for part in parsed.attachments]
    if parsed.unread:
        admitted.append(unread_parts_entry(parsed.unread))
    return admitted
