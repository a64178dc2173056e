"""The tracking address: a queue mailbox users Bcc, Cc or forward email to, to track it
(D365's forward mailbox, "BCC to CRM") from any mail client.

An email that arrives there is never tracked for the queue and never sent on. For a sender
who is a user holding the tracking role:

- the tracking address in To, and a forwarded email inside (attached or inline): the
  *original* email is kept beside the forward and tracked for that user, with its own
  parties and Message-ID;
- otherwise (the address in Cc, or in Bcc, which the delivered copy does not show): the email
  itself is tracked for that user as the email they sent.

Tracking is once per user and email: the sent copy synced from the user's own mailbox finds
it already tracked, and so does a second Bcc.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from tidings.domain.correlation import choose_regarding
from tidings.domain.errors import ConflictError
from tidings.domain.forwarding import forwarded_original
from tidings.domain.mailbox import Mailbox
from tidings.domain.message import (
    HeaderSummary,
    MessageOrigin,
    content_hash,
    parse_email,
    parse_headers,
)
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, Privilege, User
from tidings.domain.settings import EmailConfiguration
from tidings.domain.stored import NewRaw, StoredDecision, StoredRaw
from tidings.domain.tracking import (
    NO_CORRELATION,
    Correlation,
    Outcome,
    Reason,
    TrackingDecision,
    Verdict,
)
from tidings.services.ports import UnitOfWork
from tidings.services.tracking.batch_lookups import BatchLookups
from tidings.services.tracking.correlate import build_activity
from tidings.services.tracking.gather_facts import (
    MailboxContext,
    gather_facts,
    identity_of,
    load_owner,
)
from tidings.services.tracking.record import fill_content, save_activities

SENDER = "tracking_address_sender"
ROLE = "tracking_address_role"
FORWARD = "tracking_address_forward"
ONCE = "tracking_address_once"
#: Where the original of a forward is kept: beside the forward, in the same folder.
ORIGINAL_SUFFIX = "#original"


def is_tracking_address(config: EmailConfiguration, mailbox: Mailbox) -> bool:
    """Whether the mailbox is the organization's tracking address."""
    return bool(config.tracking_address) and mailbox.address == config.tracking_address


@dataclass(frozen=True)
class Recorded:
    """What became of an email offered to the tracking address."""

    decisions: tuple[StoredDecision, ...]
    activity_id: int | None


def track_from_address(
    uow: UnitOfWork, config: EmailConfiguration, mailbox: Mailbox, stored: StoredRaw, now: datetime
) -> Recorded:
    """Decide and record an email that arrived at the tracking address."""
    headers = parse_headers(stored.raw)
    reasons: list[Reason] = [
        Reason(
            "tracking_address",
            Verdict.NOT_APPLICABLE,
            f"{mailbox.address} is the tracking address: its email is tracked for the user "
            "who sent it, never for the queue, and never sent on",
        )
    ]
    sender = headers.sender.address if headers.sender else ""
    user = uow.directory.get_user_by_email(sender) if sender else None
    if user is None or user.id is None:
        reasons.append(
            Reason(SENDER, Verdict.FAIL, f"the sender {sender or '(none)'} is not a Tidings user")
        )
        return _not_tracked(stored, reasons, now)
    reasons.append(Reason(SENDER, Verdict.PASS, f"sent by user {user.full_name}"))
    owner = load_owner(uow, user.ref)
    if not owner.is_active or Privilege.TRACK_EMAIL not in owner.privileges:
        text = f"user {user.full_name}: {NOT_AUTHORIZED_TO_TRACK} (no tracking role)"
        if not owner.is_active:
            text = f"user {user.full_name} is disabled"
        reasons.append(Reason(ROLE, Verdict.FAIL, text))
        return _not_tracked(stored, reasons, now)
    reasons.append(Reason(ROLE, Verdict.PASS, f"user {user.full_name} holds the tracking role"))
    target, target_headers = stored, headers
    if any(a.address == mailbox.address for a in headers.to):
        original = forwarded_original(stored.raw)
        if original is None:
            reasons.append(
                Reason(
                    FORWARD,
                    Verdict.FAIL,
                    "sent to the tracking address with no forwarded email in it",
                )
            )
            return _not_tracked(stored, reasons, now)
        target = _keep_original(uow, stored, original, now)
        target_headers = parse_headers(original)
        reasons.append(
            Reason(
                FORWARD,
                Verdict.PASS,
                f"forwarded by {user.full_name}: the original email "
                f"({target_headers.message_id or 'no Message-ID'}) is tracked, not the forward",
            )
        )
    else:
        reasons.append(
            Reason(FORWARD, Verdict.PASS, "the tracking address was in Cc or Bcc of the email sent")
        )
    return _record(uow, config, mailbox, user, (stored, target), target_headers, reasons, now)


def _record(
    uow: UnitOfWork,
    config: EmailConfiguration,
    mailbox: Mailbox,
    user: User,
    raws: tuple[StoredRaw, StoredRaw],
    headers: HeaderSummary,
    reasons: list[Reason],
    now: datetime,
) -> Recorded:
    stored, target = raws
    owner = load_owner(uow, user.ref)
    # The user stands where a mailbox owner stands: their address is "me" to the parties.
    as_user = replace(mailbox, address=user.email, owner=user.ref)
    context = MailboxContext(config, as_user, owner, {})
    identity = identity_of(target)
    lookups = BatchLookups(uow, [headers], [identity], config.tracking_token)
    facts = gather_facts(lookups, context, target, headers)
    if user.ref in facts.tracked_for:
        reasons.append(Reason(ONCE, Verdict.FAIL, f"already tracked for {user.full_name}"))
        return _not_tracked(stored, reasons, now, also=target)
    reasons.append(Reason(ONCE, Verdict.PASS, f"not tracked for {user.full_name} before"))
    activity = build_activity(uow, lookups, target, facts, now)
    save_activities(uow, [(activity, identity)])
    if activity.id is None:  # pragma: no cover - saved activities have ids
        raise ConflictError("the activity was not saved")
    fill_content(uow, activity.id, parse_email(target.raw), config)
    decision = TrackingDecision(tuple(reasons))
    correlation = choose_regarding(facts.correlation, None)
    summary = f"tracked for {user.full_name} through the tracking address"
    kept = [_decision(stored, Outcome.TRACKED, summary, decision, correlation, activity.id, now)]
    if target.id != stored.id:
        kept.append(
            _decision(target, Outcome.TRACKED, summary, decision, correlation, activity.id, now)
        )
    return Recorded(tuple(kept), activity.id)


def _keep_original(uow: UnitOfWork, stored: StoredRaw, original: bytes, now: datetime) -> StoredRaw:
    """Keep the forwarded original as raw bytes of its own, beside the forward."""
    origin = stored.origin
    where = MessageOrigin(
        origin.mailbox_id, origin.folder, origin.uidvalidity, origin.uid + ORIGINAL_SUFFIX
    )
    message_id = parse_headers(original).message_id
    known = uow.raw_messages.ids_by_origins([where]).get(where)
    if known is not None:  # decided again (replay): the original was kept the first time
        if uow.decisions.get(known) is not None:
            uow.decisions.delete(known)
        return uow.raw_messages.require(known)
    (raw_id,) = uow.raw_messages.add_many(
        [NewRaw(where, original, message_id, content_hash(original), now)]
    )
    return StoredRaw(
        raw_id, where, message_id, content_hash(original), len(original), now, original
    )


def _not_tracked(
    stored: StoredRaw, reasons: list[Reason], now: datetime, also: StoredRaw | None = None
) -> Recorded:
    decision = TrackingDecision(tuple(reasons))
    summary = decision.summary()
    kept = [_decision(stored, Outcome.NOT_TRACKED, summary, decision, NO_CORRELATION, None, now)]
    if also is not None and also.id != stored.id:
        kept.append(
            _decision(also, Outcome.NOT_TRACKED, summary, decision, NO_CORRELATION, None, now)
        )
    return Recorded(tuple(kept), None)


def _decision(
    stored: StoredRaw,
    outcome: Outcome,
    summary: str,
    decision: TrackingDecision,
    correlation: Correlation,
    activity_id: int | None,
    now: datetime,
) -> StoredDecision:
    return StoredDecision(stored.id, outcome, summary, decision, correlation, activity_id, now)
