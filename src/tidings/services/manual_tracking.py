"""Tracking by hand, as D365's app for Outlook does: track an email the rules left untracked,
untrack an activity, set or clear its regarding record.

Tracking by hand goes through the same recording path as sync (parties resolved, attachments
admitted or blocked, correlation), and both directions rewrite the email's stored decision,
so "why was (or wasn't) this tracked?" names the person and, for untracking, their reason.
Both need the tracking role; acting on someone else's mailbox also needs WRITE_ACTIVITIES.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tidings.domain.activity import ActivityStatus, EmailActivity
from tidings.domain.correlation import choose_regarding
from tidings.domain.errors import ConflictError, NotFoundError, ValidationError
from tidings.domain.message import (
    parse_email,
    parse_headers,
    parse_message_ids,
    try_parse_headers,
)
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import REGARDING_KINDS, RecordKind, RecordRef
from tidings.domain.stored import StoredDecision, StoredRaw
from tidings.domain.tracking import (
    NO_CORRELATION,
    Outcome,
    Reason,
    TrackingDecision,
    Verdict,
)
from tidings.services import events
from tidings.services.changes import check_text
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.tracking.batch_lookups import BatchLookups
from tidings.services.tracking.gather_facts import gather_facts, identity_of, load_context
from tidings.services.tracking.record import fill_content, record_activity

TRACKED_BY_HAND = "tracked_by_hand"
UNTRACKED_BY_HAND = "untracked_by_hand"
_MAX_REASON = 500
#: Outgoing email Tidings still has to send: untracking it would cancel the send.
_UNSENT = frozenset({ActivityStatus.DRAFT, ActivityStatus.PENDING_SEND, ActivityStatus.SENDING})


@dataclass(frozen=True)
class KeptEmail:
    """An email kept from a mailbox that is not tracked: what a user may track by hand."""

    raw_message_id: int
    mailbox_id: int
    folder: str
    message_id: str | None
    subject: str
    sender: str | None
    sent_at: datetime | None
    #: Why the rules did not track it (or who untracked it, and why).
    summary: str


@dataclass(frozen=True)
class TrackResult:
    """The activity an email became when tracked by hand."""

    raw_message_id: int
    activity_id: int
    summary: str


class ManualTrackingService:
    """Track, untrack and set regarding by hand; privileges checked on every call."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    def track(self, caller: Caller, raw_message_id: int) -> TrackResult:
        """Record a kept email as an activity although the rules did not track it."""
        caller.require(Privilege.TRACK_EMAIL)
        with self._uow() as uow:
            # Judged after any worker deciding about the same email at this moment.
            uow.raw_messages.hold_identities(uow.raw_messages.identities_of([raw_message_id]))
            stored = uow.raw_messages.require(raw_message_id)
            result = self._track(uow, caller, stored)
            uow.commit()
        return result

    def not_tracked(
        self, caller: Caller, mailbox_id: int, *, limit: int = 50, offset: int = 0
    ) -> list[KeptEmail]:
        """The mailbox's email that is kept but not tracked, newest first."""
        caller.require(Privilege.TRACK_EMAIL)
        with self._uow() as uow:
            self._require_may_act(uow, caller, mailbox_id)
            found = uow.raw_messages.not_tracked(mailbox_id, limit, offset)
            return [_kept(uow.raw_messages.require(i), summary) for i, summary in found]

    def track_message_id(self, caller: Caller, message_id: str) -> TrackResult:
        """Track, by hand, the kept copy of the email with this Message-ID that the caller
        may act on (the caller's own mailbox first)."""
        caller.require(Privilege.TRACK_EMAIL)
        ids = parse_message_ids(message_id) or (f"<{message_id.strip()}>",)
        with self._uow() as uow:
            copies = [
                uow.raw_messages.require(i) for i in uow.raw_messages.ids_by_message_id(ids[0])
            ]
            mine = [c for c in copies if self._is_own(uow, caller, c.origin.mailbox_id)]
            allowed = mine or [c for c in copies if self._may_act(uow, caller, c.origin.mailbox_id)]
            if not allowed:
                raise NotFoundError(f"no kept email with the Message-ID {ids[0]} in your mailbox")
            result = self._track(uow, caller, allowed[0])
            uow.commit()
        return result

    def untrack(self, caller: Caller, activity_id: int, reason: str) -> None:
        """Remove the activity; keep the raw email, and record who untracked it and why."""
        caller.require(Privilege.TRACK_EMAIL)
        why = _check_reason(reason)
        with self._uow() as uow:
            activity = self._require_activity(uow, caller, activity_id)
            if activity.status in _UNSENT:
                raise ConflictError("this email has not been sent yet: cancel it instead")
            raw_id = activity.raw_message_id
            if raw_id is None:
                raise ValidationError(
                    "this activity was written in Tidings, not tracked from a mailbox; "
                    "there is no kept email to untrack"
                )
            previous = uow.decisions.get(raw_id)
            text = f"untracked by hand by {caller.user.full_name}: {why}"
            reasons: tuple[Reason, ...] = (Reason(UNTRACKED_BY_HAND, Verdict.FAIL, text),)
            if previous is not None:
                reasons += previous.decision.reasons
                uow.decisions.delete(raw_id)
            uow.activities.delete(activity_id)
            events.activity_untracked(uow, activity, self._clock.now())
            uow.decisions.add(
                StoredDecision(
                    raw_message_id=raw_id,
                    outcome=Outcome.NOT_TRACKED,
                    summary=f"not tracked: {text}",
                    decision=TrackingDecision(reasons),
                    correlation=previous.correlation if previous else NO_CORRELATION,
                    activity_id=None,
                    decided_at=self._clock.now(),
                )
            )
            uow.commit()

    def set_regarding(
        self, caller: Caller, activity_id: int, regarding: RecordRef | None
    ) -> EmailActivity:
        """Set (or, with ``None``, clear) the record the activity is about."""
        caller.require(Privilege.TRACK_EMAIL)
        with self._uow() as uow:
            activity = self._require_activity(uow, caller, activity_id)
            if regarding is not None:
                if regarding.kind not in REGARDING_KINDS:
                    raise ValidationError(f"a {regarding.kind.value} cannot be a regarding record")
                if not uow.directory.exists(regarding):
                    raise NotFoundError(f"no {regarding.kind.value} with id {regarding.id}")
            uow.activities.set_regarding(activity_id, regarding)
            activity.regarding = regarding
            events.activity_updated(uow, activity, self._clock.now())
            uow.commit()
        return activity

    def _track(self, uow: UnitOfWork, caller: Caller, stored: StoredRaw) -> TrackResult:
        self._require_may_act(uow, caller, stored.origin.mailbox_id)
        previous = uow.decisions.get(stored.id)
        if previous is not None and previous.activity_id is not None:
            raise ConflictError(f"this email is already tracked as activity {previous.activity_id}")
        if uow.parked.get_by_raw(stored.id) is not None:
            raise ConflictError("this email is parked after an error: replay it instead")
        context = load_context(uow, stored.origin.mailbox_id)
        headers = parse_headers(stored.raw)
        identity = identity_of(stored)
        lookups = BatchLookups(uow, [headers], [identity], context.config.tracking_token)
        facts = gather_facts(lookups, context, stored, headers)
        if context.owner.ref in facts.tracked_for:
            raise ConflictError(f"this email is already tracked for {context.owner.name}")
        now = self._clock.now()
        with uow.savepoint():
            activity_id = record_activity(uow, lookups, stored, facts, now)
            fill_content(uow, activity_id, parse_email(stored.raw), context.config)
        text = f"tracked by hand by {caller.user.full_name}"
        reasons: tuple[Reason, ...] = (Reason(TRACKED_BY_HAND, Verdict.PASS, text),)
        if previous is not None:
            reasons += previous.decision.reasons
            uow.decisions.delete(stored.id)
        uow.decisions.add(
            StoredDecision(
                raw_message_id=stored.id,
                outcome=Outcome.TRACKED,
                summary=text,
                decision=TrackingDecision(reasons),
                correlation=choose_regarding(facts.correlation, facts.folder_rule),
                activity_id=activity_id,
                decided_at=now,
            )
        )
        return TrackResult(stored.id, activity_id, text)

    def _require_activity(self, uow: UnitOfWork, caller: Caller, activity_id: int) -> EmailActivity:
        """The activity, if it is the caller's own or within their level of write_activities;
        out of reach it is "not found", so that its existence is not told."""
        activity = uow.activities.get(activity_id)
        if activity is not None and not _owns(caller, activity.owner):
            reach = caller.reach(Privilege.WRITE_ACTIVITIES)
            activity = uow.activities.get(activity_id, scope=reach)
        if activity is None:
            raise NotFoundError(f"no email activity with id {activity_id}")
        return activity

    def _require_may_act(self, uow: UnitOfWork, caller: Caller, mailbox_id: int) -> None:
        if not self._is_own(uow, caller, mailbox_id) and not self._may_act(uow, caller, mailbox_id):
            raise NotFoundError(f"no mailbox with id {mailbox_id}")

    def _may_act(self, uow: UnitOfWork, caller: Caller, mailbox_id: int) -> bool:
        """Whether the caller's level of write_activities reaches what the mailbox holds."""
        reach = caller.reach(Privilege.WRITE_ACTIVITIES)
        return uow.mailboxes.get(mailbox_id, scope=reach) is not None

    def _is_own(self, uow: UnitOfWork, caller: Caller, mailbox_id: int) -> bool:
        mailbox = uow.mailboxes.get(mailbox_id)
        return mailbox is not None and _owns(caller, mailbox.owner)


def _kept(stored: StoredRaw, summary: str) -> KeptEmail:
    headers = try_parse_headers(stored.raw)
    sender = headers.sender if headers else None
    return KeptEmail(
        raw_message_id=stored.id,
        mailbox_id=stored.origin.mailbox_id,
        folder=stored.origin.folder,
        message_id=stored.message_id,
        subject=headers.subject if headers else "",
        sender=sender.address if sender else None,
        sent_at=headers.date if headers else None,
        summary=summary,
    )


def _owns(caller: Caller, owner: RecordRef) -> bool:
    return caller.user.id is not None and owner == RecordRef(RecordKind.USER, caller.user.id)


def _check_reason(reason: str) -> str:
    text = " ".join(check_text("reason", reason, 10 * _MAX_REASON).split())
    if not text:
        raise ValidationError("say why the email is untracked: the reason is kept with it")
    if len(text) > _MAX_REASON:
        raise ValidationError(f"the reason can have at most {_MAX_REASON} characters")
    return text
