"""The ingest service end to end on real databases: store, decide, record, park, replay."""

from __future__ import annotations

from sqlalchemy import select

from tests.builders import Org, make_email
from tidings.adapters.storage import tables
from tidings.domain.activity import CorrelationMethod, Direction, ParticipationRole
from tidings.domain.errors import NotFoundError
from tidings.domain.message import MessageOrigin
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, TrackIncoming
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.settings import AmbiguousMatch, EmailProcessing
from tidings.domain.stored import ActivityFilter
from tidings.domain.tracking import Outcome, Verdict


def _reasons(org: Org, raw_id: int) -> dict[str, tuple[Verdict, str]]:
    trace = org.tidings.explain.by_raw_id(raw_id)
    return {r.rule: (r.verdict, r.text) for r in trace.reasons}


def test_an_email_from_a_contact_becomes_an_activity_with_resolved_parties(org: Org) -> None:
    # The basic promise: mail in a tracked Inbox becomes one activity linked to the CRM.
    result = org.deliver(make_email(cc="tom@contoso.example, stranger@else.example"))
    assert result.outcome is Outcome.TRACKED
    detail = org.tidings.queries.activity(result.activity_id)
    activity = detail.activity
    assert activity.subject == "Quote for 500 seats"
    assert activity.direction is Direction.INCOMING
    parties = {(p.role, p.address): p.party for p in activity.parties}
    dana = org.users["dana"].ref
    assert parties == {
        (ParticipationRole.FROM, "maria@contoso.example"): org.records["maria"],
        (ParticipationRole.TO, "dana@northwind.example"): dana,
        (ParticipationRole.CC, "tom@contoso.example"): org.records["tom"],
        (ParticipationRole.CC, "stranger@else.example"): None,
        (ParticipationRole.OWNER, "dana@northwind.example"): dana,
    }
    assert "could you send the quote?" in activity.text_body


def test_the_same_email_offered_twice_is_one_activity(org: Org) -> None:
    # Idempotence: a repeated origin returns the first result and records nothing new.
    raw = make_email()
    first = org.tidings.ingest.ingest(raw, _origin(org))
    second = org.tidings.ingest.ingest(raw, _origin(org))
    assert (first.outcome, first.repeated) == (Outcome.TRACKED, False)
    assert (second.activity_id, second.repeated) == (first.activity_id, True)
    assert org.tidings.queries.activities(ActivityFilter()).total == 1


def _origin(org: Org):
    from tidings.domain.message import MessageOrigin

    return MessageOrigin(org.mailboxes["dana"], "INBOX", 7, "42")


def test_a_copy_in_a_second_mailbox_is_already_tracked(org: Org) -> None:
    # One email reaching two tracked mailboxes is one activity, the second says why not.
    org.add_user("sam")
    raw = make_email(to="dana@northwind.example, sam@northwind.example")
    assert org.deliver(raw, "dana").outcome is Outcome.TRACKED
    second = org.deliver(raw, "sam")
    assert second.outcome is Outcome.NOT_TRACKED
    assert _reasons(org, second.raw_message_id)["already_tracked"] == (
        Verdict.FAIL,
        "already tracked from another mailbox",
    )


def test_email_between_users_is_tracked_twice_when_the_org_asks(org: Org) -> None:
    # "Track email sent between users as two activities": once for each user.
    org.add_user("sam")
    org.configure(track_between_users_as_two_activities=True)
    raw = make_email(sender="dana@northwind.example", to="sam@northwind.example")
    assert org.deliver(raw, "dana").outcome is Outcome.TRACKED
    assert org.deliver(raw, "sam").outcome is Outcome.TRACKED
    assert org.tidings.queries.activities(ActivityFilter()).total == 2


def test_an_unapproved_mailbox_tracks_nothing_and_says_so(org: Org) -> None:
    org.add_user("sam", approved=False, enabled=False)
    result = org.deliver(make_email(to="sam@northwind.example"), "sam")
    assert result.outcome is Outcome.NOT_TRACKED
    reasons = _reasons(org, result.raw_message_id)
    assert reasons["mailbox_approved"] == (
        Verdict.FAIL,
        "the address sam@northwind.example is not approved: run Approve Email",
    )
    assert reasons["mailbox_enabled"] == (
        Verdict.FAIL,
        "the mailbox is not enabled: run Test & Enable",
    )


def test_a_user_without_the_tracking_role_gets_d365s_words(org: Org) -> None:
    org.add_user("priya", tracking_role=False)
    result = org.deliver(make_email(to="priya@northwind.example"), "priya")
    assert result.outcome is Outcome.NOT_TRACKED
    verdict, text = _reasons(org, result.raw_message_id)["tracking_role"]
    assert verdict is Verdict.FAIL
    assert NOT_AUTHORIZED_TO_TRACK in text


def test_processing_turned_off_tracks_nothing(org: Org) -> None:
    org.configure(processing=EmailProcessing.NONE)
    result = org.deliver(make_email())
    assert result.outcome is Outcome.NOT_TRACKED
    assert _reasons(org, result.raw_message_id)["email_processing"][0] is Verdict.FAIL


def test_in_response_option_tracks_replies_and_inherits_regarding(org: Org) -> None:
    # D365's default option: only answers to tracked email; the answer joins its regarding.
    org.add_user("sam", TrackIncoming.IN_RESPONSE)
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    original = org.deliver(make_email(message_id="<orig@contoso.example>"), "dana", "Contoso")
    assert original.outcome is Outcome.TRACKED
    reply = make_email(
        to="sam@northwind.example",
        subject="Re: Quote for 500 seats",
        message_id="<reply@contoso.example>",
        in_reply_to="<orig@contoso.example>",
        references="<orig@contoso.example>",
    )
    result = org.deliver(reply, "sam")
    assert result.outcome is Outcome.TRACKED
    activity = org.tidings.queries.activity(result.activity_id).activity
    assert activity.regarding == org.records["deal"]
    assert activity.correlation is CorrelationMethod.IN_REPLY_TO
    unrelated = org.deliver(
        make_email(to="sam@northwind.example", message_id="<x@c.example>"), "sam"
    )
    assert unrelated.outcome is Outcome.NOT_TRACKED
    assert _reasons(org, unrelated.raw_message_id)["track_incoming_option"] == (
        Verdict.FAIL,
        "the owner's option is 'Email messages in response to email'; it answers no tracked email",
    )


def test_a_tracking_token_in_the_subject_correlates_a_reply(org: Org) -> None:
    org.add_user("sam", TrackIncoming.IN_RESPONSE)
    sent = make_email(
        sender="dana@northwind.example",
        to="maria@contoso.example",
        subject="Proposal CRM:0001001",
        message_id="<sent@northwind.example>",
    )
    assert org.deliver(sent, "dana", "INBOX").outcome is Outcome.TRACKED
    reply = make_email(
        to="sam@northwind.example",
        subject="RE: Proposal CRM:0001001",
        message_id="<r2@contoso.example>",
    )
    result = org.deliver(reply, "sam")
    activity = org.tidings.queries.activity(result.activity_id).activity
    assert activity.correlation is CorrelationMethod.TRACKING_TOKEN


def test_folders_are_tracked_only_through_folder_rules(org: Org) -> None:
    untracked = org.deliver(make_email(message_id="<f1@c.example>"), "dana", "Archive")
    assert untracked.outcome is Outcome.NOT_TRACKED
    assert _reasons(org, untracked.raw_message_id)["folder_tracked"] == (
        Verdict.FAIL,
        "folder 'Archive' has no folder-level tracking rule",
    )
    org.add_folder_rule("dana", "Archive", org.records["deal"])
    tracked = org.deliver(make_email(message_id="<f2@c.example>"), "dana", "Archive")
    activity = org.tidings.queries.activity(tracked.activity_id).activity
    assert (activity.regarding, activity.correlation) == (
        org.records["deal"],
        CorrelationMethod.FOLDER_RULE,
    )
    org.configure(folder_level_tracking=False)
    off = org.deliver(make_email(message_id="<f3@c.example>"), "dana", "Archive")
    assert off.outcome is Outcome.NOT_TRACKED


def test_auto_replies_and_bounces_are_not_tracked(org: Org) -> None:
    ooo = make_email(message_id="<ooo@c.example>", headers={"Auto-Submitted": "auto-replied"})
    result = org.deliver(ooo)
    assert _reasons(org, result.raw_message_id)["automated_email"] == (
        Verdict.FAIL,
        "an automatic reply (marked by Auto-Submitted: auto-replied) is not tracked",
    )
    bounce = make_email(sender="MAILER-DAEMON@mx.example", message_id="<b@mx.example>")
    assert org.deliver(bounce).outcome is Outcome.NOT_TRACKED


def test_ambiguous_addresses_link_all_or_none_as_the_org_chooses(org: Org) -> None:
    # info@contoso.example belongs to the account; give it to a contact as well.
    from tidings.domain.records import Contact

    with org.tidings.uow() as uow:
        uow.directory.add_contact(Contact("Contoso Desk", ("info@contoso.example",)))
        uow.commit()
    linked = org.deliver(make_email(sender="info@contoso.example", message_id="<a1@c.example>"))
    senders = [
        p
        for p in org.tidings.queries.activity(linked.activity_id).activity.parties
        if p.role is ParticipationRole.FROM
    ]
    assert sorted(p.party.kind for p in senders) == [RecordKind.ACCOUNT, RecordKind.CONTACT]
    org.configure(ambiguous_match=AmbiguousMatch.UNRESOLVED)
    unresolved = org.deliver(make_email(sender="info@contoso.example", message_id="<a2@c.example>"))
    senders = [
        p
        for p in org.tidings.queries.activity(unresolved.activity_id).activity.parties
        if p.role is ParticipationRole.FROM
    ]
    assert [(p.address, p.party) for p in senders] == [("info@contoso.example", None)]


def test_unknown_senders_become_contacts_owned_by_the_mailboxs_user_when_the_owner_asks(
    org: Org,
) -> None:
    org.add_user("sam", TrackIncoming.ALL, create_contacts=True)
    result = org.deliver(
        make_email(sender="Chris New <chris@newco.example>", to="sam@northwind.example"), "sam"
    )
    sender = next(
        p
        for p in org.tidings.queries.activity(result.activity_id).activity.parties
        if p.role is ParticipationRole.FROM
    )
    assert sender.party is not None and sender.party.kind is RecordKind.CONTACT
    with org.tidings.uow() as uow:
        summary = uow.directory.summaries([sender.party])[sender.party]
    assert (summary.name, summary.emails) == ("Chris New", ("chris@newco.example",))
    # Sam owns the contact, so a role at User level shows it to him (D365's ownerid).
    with org.tidings.engine.connect() as conn:
        owner_id = conn.execute(
            select(tables.contacts.c.owner_id).where(tables.contacts.c.id == sender.party.id)
        ).scalar_one()
    assert owner_id == org.users["sam"].id


def test_blocked_and_oversized_attachments_are_recorded_as_blocked(org: Org) -> None:
    org.configure(max_attachment_kb=1)
    raw = make_email(
        attachments=[
            ("quote.pdf", b"%PDF-1.4 small", "application/pdf"),
            ("setup.exe", b"MZ" + b"\0" * 100, "application/octet-stream"),
            ("big.csv", b"a,b\n" * 1000, "text/csv"),
        ]
    )
    activity = org.tidings.queries.activity(org.deliver(raw).activity_id).activity
    found = {a.filename: a.blocked_reason for a in activity.attachments}
    assert found == {
        "quote.pdf": None,
        "setup.exe": "the extension .exe is blocked by the email configuration settings",
        "big.csv": "4000 bytes exceeds the maximum attachment size of 1 KB",
    }


def test_smart_matching_finds_the_conversation_by_subject_and_recipients(org: Org) -> None:
    org.add_user("sam", TrackIncoming.IN_RESPONSE)
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    first = make_email(
        to=["dana@northwind.example", "tom@contoso.example", "sam@northwind.example"],
        subject="Rollout plan",
        message_id="<s1@c.example>",
    )
    org.deliver(first, "dana", "Contoso")
    later = make_email(
        to=["sam@northwind.example", "tom@contoso.example"],
        subject="AW: Rollout   PLAN",
        message_id="<s2@c.example>",
    )
    assert org.deliver(later, "sam").outcome is Outcome.NOT_TRACKED
    org.configure(use_smart_matching=True)
    again = make_email(
        to=["sam@northwind.example", "tom@contoso.example"],
        subject="AW: Rollout   PLAN",
        message_id="<s3@c.example>",
    )
    result = org.deliver(again, "sam")
    activity = org.tidings.queries.activity(result.activity_id).activity
    assert (activity.correlation, activity.regarding) == (
        CorrelationMethod.SMART_MATCHING,
        org.records["deal"],
    )


def test_a_failure_parks_the_email_and_replay_tracks_it_once_fixed(org: Org) -> None:
    # Nothing is lost: an error after the bytes are kept parks the email with its error.
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        mailbox.owner = RecordRef(RecordKind.USER, 999)
        uow.mailboxes.save(mailbox)
        uow.commit()
    result = org.deliver(make_email())
    assert result.outcome is Outcome.PARKED
    [parked] = org.tidings.queries.parked()
    assert parked.error_type.endswith("NotFoundError")
    assert "the mailbox owner user:999 does not exist" in parked.error
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        mailbox.owner = org.users["dana"].ref
        uow.mailboxes.save(mailbox)
        uow.commit()
    replayed = org.tidings.replay.replay(parked.id)
    assert replayed.outcome is Outcome.TRACKED
    assert org.tidings.queries.parked() == []


def test_one_failing_email_of_a_batch_parks_alone_and_the_rest_is_recorded(org: Org) -> None:
    # A batch is recorded as a whole until an email of it fails; then each email is decided
    # alone, so the failing one parks and the others are tracked as if offered one by one.
    org.add_user("sam")
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["sam"])
        mailbox.owner = RecordRef(RecordKind.USER, 999)
        uow.mailboxes.save(mailbox)
        uow.commit()
    first = make_email(message_id="<b1@contoso.example>", body="First\n")
    reply = make_email(
        message_id="<b3@contoso.example>",
        in_reply_to="<b1@contoso.example>",
        body="Reply\n",
        attachments=[("quote.pdf", b"%PDF-1.7", "application/pdf")],
    )
    batch = [
        (first, MessageOrigin(org.mailboxes["dana"], "INBOX", 1, "1")),
        (
            make_email(message_id="<b2@contoso.example>"),
            MessageOrigin(org.mailboxes["sam"], "INBOX", 1, "1"),
        ),
        (reply, MessageOrigin(org.mailboxes["dana"], "INBOX", 1, "2")),
    ]

    results = org.tidings.ingest.ingest_batch(batch)

    assert [r.outcome for r in results] == [Outcome.TRACKED, Outcome.PARKED, Outcome.TRACKED]
    [parked] = org.tidings.queries.parked()
    assert parked.raw_message_id == results[1].raw_message_id
    assert "the mailbox owner user:999 does not exist" in parked.error
    assert results[0].activity_id is not None and results[2].activity_id is not None
    answered = org.tidings.queries.activity(results[0].activity_id).activity
    answer = org.tidings.queries.activity(results[2].activity_id).activity
    assert (answered.text_body, answer.text_body) == ("First\n", "Reply\n")
    assert answer.correlation is CorrelationMethod.IN_REPLY_TO
    assert [(a.filename, a.size) for a in answer.attachments] == [("quote.pdf", 8)]
    assert _reasons(org, results[2].raw_message_id)["already_tracked"][0] is Verdict.PASS


def test_explain_lists_every_rule_in_order(org: Org) -> None:
    result = org.deliver(make_email(message_id="<explain-me@c.example>"))
    [trace] = org.tidings.explain.by_message_id("explain-me@c.example")
    assert trace.raw_message_id == result.raw_message_id
    assert [r.rule for r in trace.reasons] == [
        "email_processing",
        "mailbox_approved",
        "mailbox_enabled",
        "tracking_role",
        "folder_tracked",
        "automated_email",
        "already_tracked",
        "track_incoming_option",
        "marked_with_category",
    ]
    assert trace.outcome is Outcome.TRACKED


def _stream(org: Org, count: int, start: int = 0) -> list[tuple[bytes, MessageOrigin]]:
    return [
        (
            make_email(message_id=f"<st-{n}@contoso.example>", subject=f"S{n}"),
            MessageOrigin(org.mailboxes["dana"], "INBOX", 1, str(n)),
        )
        for n in range(start, start + count)
    ]


def test_a_stream_keeps_each_batch_before_deciding_it_and_sees_the_batch_before(
    org: Org,
) -> None:
    # The next batch's raw bytes are kept while one is decided; an origin offered again in
    # the very next batch is the first offer's result, and a reply in it finds its email.
    emails = _stream(org, 5)
    reply = make_email(
        message_id="<st-reply@contoso.example>", in_reply_to="<st-4@contoso.example>"
    )
    offered = [*emails, emails[4], (reply, MessageOrigin(org.mailboxes["dana"], "INBOX", 1, "r"))]

    results = list(org.tidings.ingest.ingest_many(offered, batch_size=3))

    assert [r.outcome for r in results] == [Outcome.TRACKED] * 7
    assert [r.repeated for r in results] == [False] * 5 + [True, False]
    assert results[5].activity_id == results[4].activity_id
    answer = org.tidings.queries.activity(results[6].activity_id).activity
    assert answer.correlation is CorrelationMethod.IN_REPLY_TO
    with org.tidings.uow() as uow:
        assert uow.raw_messages.undecided_ids() == []


def test_a_stream_that_names_an_unknown_mailbox_fails_there_after_recording_the_rest(
    org: Org,
) -> None:
    # The batch before the failing one is recorded; the failing batch keeps nothing.
    stranger = (
        make_email(message_id="<st-x@contoso.example>"),
        MessageOrigin(999, "INBOX", 1, "x"),
    )
    offered = [*_stream(org, 3), stranger, *_stream(org, 2, start=3)]
    stream = org.tidings.ingest.ingest_many(offered, batch_size=3)

    first = [next(stream) for _ in range(3)]
    try:
        next(stream)
    except NotFoundError as error:
        assert "no mailbox with id 999" in str(error)
    else:
        raise AssertionError("the unknown mailbox was not refused")

    assert [r.outcome for r in first] == [Outcome.TRACKED] * 3
    assert org.tidings.queries.activities(ActivityFilter()).total == 3
    with org.tidings.uow() as uow:
        assert uow.raw_messages.undecided_ids() == []
