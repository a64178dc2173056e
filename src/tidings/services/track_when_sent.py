""" "Track when sent" from the App for Outlook: keep the request while the email is written,
and honour it when ingest meets the sent copy carrying the request's token
(``tracking.read_headers.track_token`` reads it; ``tracking.decide`` calls ``honour``).

Only the copy in the requester's own mailbox is tracked this way (recipients' copies carry the
same header and are left to the rules); the request is used once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tidings.domain.errors import NotFoundError, ValidationError
from tidings.domain.message import parse_email, parse_headers
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import REGARDING_KINDS, RecordKind, RecordRef, RecordSummary
from tidings.domain.rules import decide
from tidings.domain.stored import StoredDecision, StoredRaw
from tidings.domain.track_when_sent import TrackWhenSent, is_token
from tidings.domain.tracking import Outcome, Reason, TrackingDecision, Verdict
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.tracking.batch_lookups import BatchLookups
from tidings.services.tracking.correlate import build_activity
from tidings.services.tracking.gather_facts import gather_facts, identity_of, load_context
from tidings.services.tracking.record import fill_content, save_activities

TRACK_WHEN_SENT = "track_when_sent"


@dataclass(frozen=True)
class PendingRequest:
    """A request as the task pane shows it."""

    intent: TrackWhenSent
    regarding: RecordSummary | None


class TrackWhenSentService:
    """Requests made while writing an email; the tracking role is needed."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    def request(self, caller: Caller, token: str, regarding: RecordRef | None) -> TrackWhenSent:
        """Track the email that will carry ``token`` once it is sent, regarding a record."""
        caller.require(Privilege.TRACK_EMAIL)
        if not is_token(token):
            raise ValidationError("the token must be 16 to 64 letters, digits, '-' or '_'")
        if caller.user.id is None:
            raise ValidationError("only a user can ask to track email")
        with self._uow() as uow:
            if regarding is not None:
                if regarding.kind not in REGARDING_KINDS:
                    raise ValidationError(f"a {regarding.kind.value} cannot be a regarding record")
                if not uow.directory.exists(regarding):
                    raise NotFoundError(f"no {regarding.kind.value} with id {regarding.id}")
            intent = TrackWhenSent(token, caller.user.id, regarding, self._clock.now())
            uow.track_when_sent.save(intent)
            uow.commit()
        return intent

    def get(self, caller: Caller, token: str) -> TrackWhenSent | None:
        """The caller's pending request for the draft with this token, if any."""
        found = self.pending(caller, token)
        return found.intent if found is not None else None

    def pending(self, caller: Caller, token: str) -> PendingRequest | None:
        """The caller's pending request for the draft with this token, with the name of its
        regarding record."""
        caller.require(Privilege.TRACK_EMAIL)
        with self._uow() as uow:
            found = uow.track_when_sent.by_tokens([token]).get(token)
            if found is None or found.user_id != caller.user.id:
                return None
            names = uow.directory.summaries([found.regarding] if found.regarding else [])
        return PendingRequest(found, names.get(found.regarding) if found.regarding else None)

    def cancel(self, caller: Caller, token: str) -> None:
        """Forget the request: the email will be decided by the rules alone."""
        if self.get(caller, token) is None:
            raise NotFoundError("no request to track this email when sent")
        with self._uow() as uow:
            uow.track_when_sent.delete(token)
            uow.commit()


def honour(uow: UnitOfWork, stored: StoredRaw, token: str, now: datetime) -> StoredDecision | None:
    """Track the sent copy as asked, or ``None`` to leave it to the rules (not the
    requester's mailbox, no such request, no tracking role, already tracked)."""
    intent = uow.track_when_sent.by_tokens([token]).get(token)
    if intent is None:
        return None
    context = load_context(uow, stored.origin.mailbox_id)
    if context.owner.ref != RecordRef(RecordKind.USER, intent.user_id):
        return None
    if Privilege.TRACK_EMAIL not in context.owner.privileges or not context.owner.is_active:
        return None
    headers = parse_headers(stored.raw)
    identity = identity_of(stored)
    lookups = BatchLookups(uow, [headers], [identity], context.config.tracking_token)
    facts = gather_facts(lookups, context, stored, headers)
    if context.owner.ref in facts.tracked_for:
        uow.track_when_sent.delete(token)
        return None
    activity = build_activity(uow, lookups, stored, facts, now)
    if intent.regarding is not None:
        activity.regarding = intent.regarding
    save_activities(uow, [(activity, identity)])
    assert activity.id is not None  # noqa: S101 - saved activities have ids
    lookups.activity_recorded(activity, identity)
    fill_content(uow, activity.id, parse_email(stored.raw), context.config)
    uow.track_when_sent.delete(token)
    text = f"tracked when sent, as {context.owner.name} asked in the App for Outlook"
    reasons = (Reason(TRACK_WHEN_SENT, Verdict.PASS, text), *decide(facts).reasons)
    return StoredDecision(
        raw_message_id=stored.id,
        outcome=Outcome.TRACKED,
        summary=text,
        decision=TrackingDecision(reasons),
        correlation=facts.correlation,
        activity_id=activity.id,
        decided_at=now,
    )
