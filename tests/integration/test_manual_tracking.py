"""Tracking by hand (what D365's app for Outlook does) and replaying parked email, on real
databases, through the same recording path as sync."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from tests.builders import Org, make_email
from tidings.domain.activity import ParticipationRole
from tidings.domain.errors import ConflictError, NotAuthorizedError, NotFoundError, ValidationError
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, Caller, Privilege, TrackIncoming
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.tracking import Outcome, Verdict
from tidings.domain.webhooks import EventType, WebhookSubscription

TRACKER = frozenset({Privilege.TRACK_EMAIL, Privilege.READ_ACTIVITIES})


def _untracked(org: Org, name: str = "dana", **email: object) -> int:
    """An email kept in ``name``'s mailbox that the rules did not track."""
    org.tidings.personal_options.update_options(
        Caller(org.users[name], TRACKER), org.users[name].id, track_incoming=TrackIncoming.NONE
    )
    result = org.deliver(make_email(**email), mailbox=name)  # type: ignore[arg-type]
    assert result.outcome is Outcome.NOT_TRACKED
    return result.raw_message_id


def test_tracking_by_hand_records_parties_and_attachments_and_says_who(org: Org) -> None:
    # The rules said no; the owner says yes: one activity as sync would have made it.
    raw_id = _untracked(org, attachments=[("quote.pdf", b"%PDF-1.4", "application/pdf")])
    dana = Caller(org.users["dana"], TRACKER)
    result = org.tidings.manual_tracking.track(dana, raw_id)
    activity = org.tidings.queries.activity(result.activity_id).activity
    parties = {(p.role, p.address): p.party for p in activity.parties}
    assert parties[(ParticipationRole.FROM, "maria@contoso.example")] == org.records["maria"]
    assert [a.filename for a in activity.attachments] == ["quote.pdf"]
    trace = org.tidings.explain.by_raw_id(raw_id)
    assert (trace.outcome, trace.summary, trace.activity_id) == (
        Outcome.TRACKED,
        "tracked by hand by Dana",
        result.activity_id,
    )
    assert trace.reasons[0].rule == "tracked_by_hand"
    with pytest.raises(ConflictError, match=f"already tracked as activity {result.activity_id}"):
        org.tidings.manual_tracking.track(dana, raw_id)


def test_tracking_by_hand_without_the_tracking_role_gets_d365s_words(org: Org) -> None:
    raw_id = _untracked(org)
    without = Caller(org.users["dana"], frozenset({Privilege.READ_ACTIVITIES}))
    with pytest.raises(NotAuthorizedError) as refused:
        org.tidings.manual_tracking.track(without, raw_id)
    assert (
        str(refused.value)
        == NOT_AUTHORIZED_TO_TRACK
        == "You haven't been authorized to use this app"
    )


def test_someone_elses_email_needs_write_activities(org: Org) -> None:
    # Out of reach is "not found": that Sam's mailbox exists is not told.
    org.add_user("sam")
    raw_id = _untracked(org, "sam", to="sam@northwind.example")
    dana = Caller(org.users["dana"], TRACKER)
    with pytest.raises(NotFoundError, match="no mailbox"):
        org.tidings.manual_tracking.track(dana, raw_id)
    admin = Caller(org.users["dana"], frozenset(Privilege))
    result = org.tidings.manual_tracking.track(admin, raw_id)
    assert org.tidings.queries.activity(result.activity_id).activity.owner == org.users["sam"].ref


def test_tracking_by_message_id_finds_the_callers_copy(org: Org) -> None:
    _untracked(org, message_id="<by-id@contoso.example>")
    dana = Caller(org.users["dana"], TRACKER)
    result = org.tidings.manual_tracking.track_message_id(dana, "by-id@contoso.example")
    assert result.summary == "tracked by hand by Dana"
    with pytest.raises(NotFoundError, match="no kept email"):
        org.tidings.manual_tracking.track_message_id(dana, "<nothing@contoso.example>")


def test_untracking_removes_the_activity_keeps_the_email_and_records_why(org: Org) -> None:
    result = org.deliver(make_email())
    dana = Caller(org.users["dana"], TRACKER)
    org.tidings.manual_tracking.untrack(dana, result.activity_id, "  personal   email ")
    with pytest.raises(NotFoundError):
        org.tidings.queries.activity(result.activity_id)
    trace = org.tidings.explain.by_raw_id(result.raw_message_id)
    assert trace.outcome is Outcome.NOT_TRACKED
    assert trace.summary == "not tracked: untracked by hand by Dana: personal email"
    assert (trace.reasons[0].rule, trace.reasons[0].verdict) == ("untracked_by_hand", Verdict.FAIL)
    # The raw email is still there, so it can be tracked again by hand.
    again = org.tidings.manual_tracking.track(dana, result.raw_message_id)
    assert org.tidings.explain.by_raw_id(result.raw_message_id).activity_id == again.activity_id


def test_untracking_needs_a_reason(org: Org) -> None:
    result = org.deliver(make_email())
    dana = Caller(org.users["dana"], TRACKER)
    with pytest.raises(ValidationError, match="say why"):
        org.tidings.manual_tracking.untrack(dana, result.activity_id, "   ")
    assert org.tidings.queries.activity(result.activity_id)


def test_regarding_is_set_and_cleared_by_hand(org: Org) -> None:
    result = org.deliver(make_email())
    dana = Caller(org.users["dana"], TRACKER)
    tracking = org.tidings.manual_tracking
    assert (
        tracking.set_regarding(dana, result.activity_id, org.records["deal"]).regarding
        == org.records["deal"]
    )
    assert (
        org.tidings.queries.activity(result.activity_id).activity.regarding == org.records["deal"]
    )
    tracking.set_regarding(dana, result.activity_id, None)
    assert org.tidings.queries.activity(result.activity_id).activity.regarding is None
    with pytest.raises(ValidationError, match="a user cannot be a regarding record"):
        tracking.set_regarding(dana, result.activity_id, org.users["dana"].ref)
    with pytest.raises(NotFoundError, match="no case with id 5"):
        tracking.set_regarding(dana, result.activity_id, RecordRef(RecordKind.CASE, 5))


def test_parked_email_is_replayed_by_a_caller_allowed_to(org: Org) -> None:
    # A mailbox owner that vanished makes processing fail; once it exists again, replay works.
    raw = make_email(message_id="<parked@contoso.example>")
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        mailbox.owner = RecordRef(RecordKind.USER, 999)
        uow.mailboxes.save(mailbox)
        uow.commit()
    assert org.deliver(raw).outcome is Outcome.PARKED
    admin = Caller(org.users["dana"], frozenset(Privilege))
    parked = org.tidings.parked.list_parked(admin)
    assert len(parked) == 1
    with pytest.raises(NotAuthorizedError, match="write_mailboxes"):
        org.tidings.parked.replay(Caller(org.users["dana"], TRACKER), parked[0].id)
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        mailbox.owner = org.users["dana"].ref
        uow.mailboxes.save(mailbox)
        uow.commit()
    assert org.tidings.parked.replay(admin, parked[0].id).outcome is Outcome.TRACKED
    assert org.tidings.parked.list_parked(admin) == []
    assert org.tidings.parked.replay_all(admin) == []


def test_changes_by_hand_are_reported_to_webhooks_as_updates(org: Org) -> None:
    # Setting regarding and untracking each write an activity.updated event in the same
    # transaction; the untracked one says so (to a receiver that asked for both kinds).
    with org.tidings.uow() as uow:
        kinds = frozenset({EventType.ACTIVITY_CREATED, EventType.ACTIVITY_UPDATED})
        hook = WebhookSubscription("https://hooks.example/t", kinds, created_at=datetime.now(UTC))
        uow.webhooks.add_subscription(hook, "-")
        uow.commit()
    result = org.deliver(make_email())
    dana = Caller(org.users["dana"], TRACKER)
    org.tidings.manual_tracking.set_regarding(dana, result.activity_id, org.records["deal"])
    org.tidings.manual_tracking.untrack(dana, result.activity_id, "private")
    with org.tidings.engine.connect() as conn:
        rows = conn.execute(text("SELECT type, payload FROM webhook_events ORDER BY id")).all()
    kinds = [(row.type, _payload(row.payload)) for row in rows]
    assert [k for k, _ in kinds] == ["activity.created", "activity.updated", "activity.updated"]
    assert kinds[1][1]["regarding"] == str(org.records["deal"])
    assert kinds[2][1]["untracked"] is True and kinds[2][1]["id"] == result.activity_id


def _payload(value: object) -> dict[str, object]:
    return json.loads(value) if isinstance(value, str) else value  # type: ignore[return-value]
