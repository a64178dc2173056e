"""The tracking address ("BCC to CRM") and "track when sent", through real ingest on both
databases: what arrives at the tracking address is tracked for the user who sent it."""

from __future__ import annotations

from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP, default

import pytest

from tests.builders import Org, make_email
from tidings.domain.activity import Direction, ParticipationRole
from tidings.domain.errors import NotAuthorizedError, ValidationError
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, Caller, Privilege, TrackIncoming
from tidings.domain.stored import ActivityFilter
from tidings.domain.tracking import Outcome, Verdict

CRM = "crm@northwind.example"
TRACKER = frozenset({Privilege.TRACK_EMAIL, Privilege.READ_ACTIVITIES})


@pytest.fixture
def crm(org: Org) -> Org:
    """Northwind with a queue mailbox named as its tracking address."""
    org.add_queue("crm", TrackIncoming.ALL)
    org.configure(tracking_address=CRM)
    return org


def _forward(inline: str, *, sender: str = "dana@northwind.example") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = CRM
    msg["Subject"] = "Fw: Quote for 500 seats"
    msg["Message-ID"] = "<forward-1@northwind.example>"
    msg.set_content(inline)
    return msg.as_bytes(policy=SMTP)


def _activity_of(org: Org, activity_id: int | None):  # type: ignore[no-untyped-def]
    assert activity_id is not None
    return org.tidings.queries.activity(activity_id).activity


def test_email_sent_with_the_tracking_address_in_bcc_is_tracked_once_for_the_sender(
    crm: Org,
) -> None:
    # Bcc does not show in the copy delivered to the tracking address.
    sent = make_email(
        sender="dana@northwind.example",
        to="maria@contoso.example",
        message_id="<bcc-1@northwind.example>",
    )
    result = crm.deliver(sent, mailbox="crm")
    assert result.outcome is Outcome.TRACKED
    activity = _activity_of(crm, result.activity_id)
    assert activity.owner == crm.users["dana"].ref
    assert activity.direction is Direction.OUTGOING
    parties = {(p.role, p.address): p.party for p in activity.parties}
    assert parties[(ParticipationRole.TO, "maria@contoso.example")] == crm.records["maria"]
    # The sent copy, synced from Dana's own mailbox, is the same email: not tracked again.
    crm.add_folder_rule("dana", "Sent")
    again = crm.deliver(sent, mailbox="dana", folder="Sent")
    assert again.outcome is Outcome.NOT_TRACKED
    assert "already tracked for this owner" in again.summary
    # Nor is a second copy to the tracking address: the same bytes in the same folder are
    # the email already kept, and give its first result.
    twice = crm.deliver(sent, mailbox="crm")
    assert twice.repeated
    assert twice.activity_id == result.activity_id


def test_the_tracking_address_in_cc_tracks_the_sent_email_after_its_synced_copy_too(
    crm: Org,
) -> None:
    sent = make_email(
        sender="dana@northwind.example",
        to="maria@contoso.example",
        cc=CRM,
        message_id="<cc-1@northwind.example>",
    )
    crm.add_folder_rule("dana", "Sent")
    first = crm.deliver(sent, mailbox="dana", folder="Sent")
    assert first.outcome is Outcome.TRACKED
    second = crm.deliver(sent, mailbox="crm")
    assert second.outcome is Outcome.NOT_TRACKED
    trace = crm.tidings.explain.by_raw_id(second.raw_message_id)
    assert ("tracking_address_once", Verdict.FAIL) in [(r.rule, r.verdict) for r in trace.reasons]


@pytest.mark.parametrize(
    "inline",
    [
        # Outlook
        "FYI\n\n________________________________\nFrom: Maria Garcia <maria@contoso.example>\n"
        "Sent: Thursday, November 19, 2026 10:30 AM\nTo: Dana <dana@northwind.example>; "
        "Tom Becker <tom@contoso.example>\nSubject: Quote for 500 seats\n\nHello Dana,\n",
        # Gmail
        "---------- Forwarded message ---------\nFrom: Maria Garcia <maria@contoso.example>\n"
        "Date: Thu, Nov 19, 2026 at 10:30 AM\nSubject: Quote for 500 seats\n"
        "To: Dana <dana@northwind.example>, Tom Becker <tom@contoso.example>\n\n\nHello Dana,\n",
        # Apple Mail
        "Begin forwarded message:\n\nFrom: Maria Garcia <maria@contoso.example>\n"
        "Subject: Quote for 500 seats\nDate: 19 November 2026 at 10:30:00 CET\n"
        "To: Dana <dana@northwind.example>\nCc: Tom Becker <tom@contoso.example>\n\nHello Dana,\n",
    ],
    ids=["outlook", "gmail", "apple-mail"],
)
def test_an_inline_forward_tracks_the_original_with_its_own_parties(crm: Org, inline: str) -> None:
    result = crm.deliver(_forward(inline), mailbox="crm")
    assert result.outcome is Outcome.TRACKED, result.summary
    activity = _activity_of(crm, result.activity_id)
    assert activity.subject == "Quote for 500 seats"
    assert activity.owner == crm.users["dana"].ref
    assert activity.direction is Direction.INCOMING
    by_role = {(p.role, p.address) for p in activity.parties}
    assert (ParticipationRole.FROM, "maria@contoso.example") in by_role
    assert any(address == "tom@contoso.example" for _, address in by_role)
    assert all(address != CRM for _, address in by_role)
    assert activity.message_id != "<forward-1@northwind.example>"
    assert "Hello Dana" in activity.text_body


def test_an_attached_original_is_tracked_with_its_message_id(crm: Org) -> None:
    original = make_email(message_id="<original-7@contoso.example>", cc="tom@contoso.example")
    msg = EmailMessage()
    msg["From"] = "dana@northwind.example"
    msg["To"] = CRM
    msg["Subject"] = "Fw: Quote for 500 seats"
    msg["Message-ID"] = "<forward-2@northwind.example>"
    msg.set_content("See attached.")
    msg.add_attachment(message_from_bytes(original, policy=default))
    result = crm.deliver(msg.as_bytes(policy=SMTP), mailbox="crm")
    assert result.outcome is Outcome.TRACKED, result.summary
    activity = _activity_of(crm, result.activity_id)
    assert activity.message_id == "<original-7@contoso.example>"
    (story,) = crm.tidings.explain.by_message_id("<original-7@contoso.example>")
    assert story.activity_id == result.activity_id
    # The same email arriving in Dana's Inbox is already tracked for her.
    assert "already tracked" in crm.deliver(original).summary


def test_a_sender_who_is_no_user_gets_nothing_tracked_and_a_reason(crm: Org) -> None:
    result = crm.deliver(make_email(sender="maria@contoso.example", to=CRM), mailbox="crm")
    assert result.outcome is Outcome.NOT_TRACKED
    assert result.summary == "not tracked: the sender maria@contoso.example is not a Tidings user"
    assert crm.tidings.queries.activities(ActivityFilter()).total == 0


def test_a_user_without_the_tracking_role_gets_d365s_words(crm: Org) -> None:
    crm.add_user("sam", tracking_role=False)
    sent = make_email(sender="sam@northwind.example", to="maria@contoso.example")
    result = crm.deliver(sent, mailbox="crm")
    assert result.outcome is Outcome.NOT_TRACKED
    assert NOT_AUTHORIZED_TO_TRACK in result.summary


def test_a_message_to_the_tracking_address_that_forwards_nothing_is_not_tracked(
    crm: Org,
) -> None:
    result = crm.deliver(
        make_email(sender="dana@northwind.example", to=CRM, body="track this please"),
        mailbox="crm",
    )
    assert result.outcome is Outcome.NOT_TRACKED
    assert "no forwarded email" in result.summary


def test_track_when_sent_tracks_the_sent_copy_with_the_chosen_regarding(org: Org) -> None:
    dana = Caller(org.users["dana"], TRACKER)
    token = "draft-token-0123456789"
    org.tidings.track_when_sent.request(dana, token, org.records["deal"])
    org.tidings.personal_options.update_options(
        dana, org.users["dana"].id, track_incoming=TrackIncoming.NONE
    )
    sent = make_email(
        sender="dana@northwind.example",
        to="maria@contoso.example",
        message_id="<sent-with-token@northwind.example>",
        headers={"X-Tidings-Track": token},
    )
    # A recipient's copy carries the header too; it is left to the rules.
    org.add_user("sam", TrackIncoming.NONE)
    assert org.deliver(sent, mailbox="sam").outcome is Outcome.NOT_TRACKED
    result = org.deliver(sent, mailbox="dana", folder="Sent Items")
    assert result.outcome is Outcome.TRACKED
    activity = _activity_of(org, result.activity_id)
    assert activity.regarding == org.records["deal"]
    assert activity.direction is Direction.OUTGOING
    assert result.summary == "tracked when sent, as Dana asked in the App for Outlook"
    # Used once: another email with the same token is decided by the rules.
    again = make_email(
        sender="dana@northwind.example",
        message_id="<other@n.example>",
        headers={"X-Tidings-Track": token},
    )
    assert org.deliver(again, mailbox="dana", folder="Sent Items").outcome is Outcome.NOT_TRACKED


def test_track_when_sent_needs_the_tracking_role_and_a_good_token(org: Org) -> None:
    without = Caller(org.users["dana"], frozenset({Privilege.READ_ACTIVITIES}))
    with pytest.raises(NotAuthorizedError):
        org.tidings.track_when_sent.request(without, "draft-token-0123456789", None)
    dana = Caller(org.users["dana"], TRACKER)
    with pytest.raises(ValidationError, match="token"):
        org.tidings.track_when_sent.request(dana, "short", None)


def test_a_users_own_address_cannot_be_the_tracking_address(org: Org) -> None:
    admin = Caller(org.users["dana"], frozenset(Privilege))
    with pytest.raises(ValidationError, match="is a user's address"):
        org.tidings.email_settings.update(admin, {"tracking_address": "Dana@northwind.example"})
    saved = org.tidings.email_settings.update(admin, {"tracking_address": " CRM@northwind.example"})
    assert saved.tracking_address == CRM
    cleared = org.tidings.email_settings.update(admin, {"tracking_address": ""})
    assert cleared.tracking_address is None
