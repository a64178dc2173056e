"""The named tracking rules: each verdict and the exact words it gives an admin."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tidings.domain.activity import CorrelationMethod
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.mailbox import Mailbox, TestStatus
from tidings.domain.message import Address, HeaderSummary
from tidings.domain.people import PersonalOptions, Privilege, TrackIncoming
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.rules import RULES, decide
from tidings.domain.settings import EmailConfiguration, EmailProcessing, SyncMethod
from tidings.domain.tracking import (
    NO_CORRELATION,
    Correlation,
    Owner,
    Reason,
    TrackingFacts,
    Verdict,
)

DANA = RecordRef(RecordKind.USER, 1)
OMAR = RecordRef(RecordKind.USER, 2)
SUPPORT = RecordRef(RecordKind.QUEUE, 1)
DANA_ADDRESS = "dana@northwind.example"
MARIA = Address("Maria Garcia", "maria@contoso.example")
NAMES = [rule.name for rule in RULES]


def make_headers(**changes: object) -> HeaderSummary:
    """An ordinary email from Maria (a contact) to Dana, changed as a test needs."""
    headers = HeaderSummary(
        message_id="<m1@contoso.example>",
        subject="Quote for 500 seats",
        sender=MARIA,
        to=(Address("Dana", DANA_ADDRESS),),
        cc=(),
        bcc=(),
        date=datetime(2026, 11, 19, 10, 30, tzinfo=UTC),
        in_reply_to=(),
        references=(),
        conversation_id=None,
        auto_submitted="",
        is_autoreply_flagged=False,
        report_type="",
        precedence="",
        return_path="<maria@contoso.example>",
    )
    return replace(headers, **changes)  # type: ignore[arg-type]


def make_mailbox(*, approved: bool = True, enabled: bool = True, **changes: object) -> Mailbox:
    """Dana's mailbox, approved and enabled unless told otherwise."""
    mailbox = Mailbox(DANA_ADDRESS, DANA)
    if approved:
        mailbox.approve_email()
    if enabled:
        mailbox.record_test(incoming=TestStatus.SUCCESS, outgoing=TestStatus.SUCCESS, alerts=[])
    return replace(mailbox, **changes)  # type: ignore[arg-type]


def make_owner(option: TrackIncoming = TrackIncoming.ALL, **changes: object) -> Owner:
    """Dana, an active user holding the tracking role."""
    owner = Owner(
        ref=DANA,
        name="Dana",
        privileges=frozenset({Privilege.TRACK_EMAIL, Privilege.READ_ACTIVITIES}),
        options=PersonalOptions(option),
    )
    return replace(owner, **changes)  # type: ignore[arg-type]


def make_facts(**changes: object) -> TrackingFacts:
    """Facts about an email from a contact in Dana's Inbox that every rule lets through."""
    facts = TrackingFacts(
        config=EmailConfiguration(),
        mailbox=make_mailbox(),
        owner=make_owner(),
        folder="INBOX",
        folder_rule=None,
        headers=make_headers(),
        sender_kinds=frozenset({RecordKind.CONTACT}),
        recipient_kinds=frozenset({RecordKind.USER}),
        correlation=NO_CORRELATION,
        tracked_for=frozenset(),
        matches={},
    )
    return replace(facts, **changes)  # type: ignore[arg-type]


def reason(facts: TrackingFacts, rule: str) -> Reason:
    """The reason one named rule gives for ``facts``."""
    return decide(facts).reasons[NAMES.index(rule)]


def verdict(facts: TrackingFacts, rule: str) -> tuple[Verdict, str]:
    found = reason(facts, rule)
    return found.verdict, found.text


# --- the decision as a whole --------------------------------------------------------------


def test_the_rules_run_in_their_documented_order() -> None:
    # Stored decisions refer to rules by name, so the names and their order are a contract.
    assert NAMES == [
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


def test_an_ordinary_email_passes_every_rule_and_is_tracked() -> None:
    # An email from a contact in an approved, enabled mailbox of a tracking user is tracked.
    decision = decide(make_facts())

    assert decision.tracked
    assert decision.failures == ()
    assert decision.summary() == "tracked"
    # Only marking by hand is not applicable to it.
    expected = [(n, Verdict.PASS) for n in NAMES if n != "marked_with_category"]
    assert [(r.rule, r.verdict) for r in decision.reasons] == [
        *expected,
        ("marked_with_category", Verdict.NOT_APPLICABLE),
    ]


def test_every_rule_runs_even_after_one_fails_so_the_explanation_is_complete() -> None:
    # A failing rule does not stop the others: an explanation lists every reason.
    facts = make_facts(config=EmailConfiguration(processing=EmailProcessing.NONE))

    decision = decide(facts)

    assert len(decision.reasons) == len(RULES)
    assert not decision.tracked
    assert [r.rule for r in decision.failures] == ["email_processing"]


def test_the_summary_gives_the_first_failure_in_rule_order() -> None:
    # The one-line summary names the first rule that failed, not the last.
    facts = make_facts(
        mailbox=make_mailbox(approved=False),
        headers=make_headers(is_autoreply_flagged=True),
    )

    decision = decide(facts)

    assert [r.rule for r in decision.failures] == ["mailbox_approved", "automated_email"]
    assert decision.summary() == (
        "not tracked: the address dana@northwind.example is not approved: run Approve Email"
    )


def test_not_applicable_verdicts_do_not_stop_tracking() -> None:
    # Only a FAIL keeps an email from being tracked; NOT_APPLICABLE is neutral.
    facts = make_facts(
        config=EmailConfiguration(process_only_approved_mailboxes=False),
        mailbox=make_mailbox(approved=False),
    )

    decision = decide(facts)

    assert reason(facts, "mailbox_approved").verdict is Verdict.NOT_APPLICABLE
    assert decision.tracked


def test_a_rule_called_directly_returns_its_reason_with_its_name() -> None:
    # Each rule is callable on the facts and labels its reason with its own name.
    rule = RULES[0]

    assert rule(make_facts()) == Reason(
        "email_processing",
        Verdict.PASS,
        "the organization processes email using server-side synchronization",
    )
    assert rule.description == "The organization processes email"


# --- email_processing ---------------------------------------------------------------------


def test_email_processing_passes_under_server_side_synchronization() -> None:
    # The organization processes email with server-side synchronization: the rule passes.
    assert verdict(make_facts(), "email_processing") == (
        Verdict.PASS,
        "the organization processes email using server-side synchronization",
    )


def test_email_processing_fails_when_the_organization_turns_processing_off() -> None:
    # "Process email using: none" stops all tracking.
    facts = make_facts(config=EmailConfiguration(processing=EmailProcessing.NONE))

    assert verdict(facts, "email_processing") == (
        Verdict.FAIL,
        "the organization's email configuration settings turn processing off",
    )


# --- mailbox_approved ---------------------------------------------------------------------


def test_mailbox_approved_passes_for_an_approved_address() -> None:
    # An approved address passes and the reason names it.
    assert verdict(make_facts(), "mailbox_approved") == (
        Verdict.PASS,
        "the address dana@northwind.example is approved",
    )


def test_mailbox_approved_fails_for_an_unapproved_address_and_says_what_to_run() -> None:
    # Without Approve Email nothing syncs, and the reason says which command fixes it.
    facts = make_facts(mailbox=make_mailbox(approved=False))

    assert verdict(facts, "mailbox_approved") == (
        Verdict.FAIL,
        "the address dana@northwind.example is not approved: run Approve Email",
    )


def test_mailbox_approved_does_not_apply_when_the_organization_processes_unapproved_mailboxes() -> (
    None
):
    # With "process only approved mailboxes" off, approval does not matter.
    facts = make_facts(
        config=EmailConfiguration(process_only_approved_mailboxes=False),
        mailbox=make_mailbox(approved=False),
    )

    assert verdict(facts, "mailbox_approved") == (
        Verdict.NOT_APPLICABLE,
        "the organization processes email of unapproved mailboxes",
    )


# --- mailbox_enabled ----------------------------------------------------------------------


def test_mailbox_enabled_passes_for_an_enabled_mailbox_syncing_incoming_email() -> None:
    # An enabled mailbox whose incoming method is server-side synchronization passes.
    assert verdict(make_facts(), "mailbox_enabled") == (
        Verdict.PASS,
        "the mailbox is enabled for incoming server-side synchronization",
    )


def test_mailbox_enabled_fails_for_a_mailbox_that_has_not_passed_test_and_enable() -> None:
    # A disabled mailbox fails and the reason points to Test & Enable.
    facts = make_facts(mailbox=make_mailbox(enabled=False))

    assert verdict(facts, "mailbox_enabled") == (
        Verdict.FAIL,
        "the mailbox is not enabled: run Test & Enable",
    )


def test_mailbox_enabled_fails_for_an_enabled_mailbox_whose_incoming_method_is_none() -> None:
    # A mailbox enabled for outgoing email only does not track incoming email.
    mailbox = make_mailbox(enabled=False, incoming_method=SyncMethod.NONE)
    mailbox.record_test(incoming=TestStatus.NOT_RUN, outgoing=TestStatus.SUCCESS, alerts=[])
    assert mailbox.enabled

    assert verdict(make_facts(mailbox=mailbox), "mailbox_enabled") == (
        Verdict.FAIL,
        "the mailbox's incoming email sync method is none",
    )


# --- tracking_role ------------------------------------------------------------------------


def test_tracking_role_passes_for_a_user_holding_it() -> None:
    # A user with the track-email privilege passes.
    assert verdict(make_facts(), "tracking_role") == (
        Verdict.PASS,
        "user Dana holds the tracking role",
    )


def test_tracking_role_fails_with_d365s_words_for_a_user_without_it() -> None:
    # A user without the role is told D365's "You haven't been authorized to use this app".
    facts = make_facts(owner=make_owner(privileges=frozenset({Privilege.READ_ACTIVITIES})))

    assert verdict(facts, "tracking_role") == (
        Verdict.FAIL,
        "user Dana: You haven't been authorized to use this app (no tracking role)",
    )


def test_tracking_role_fails_for_an_inactive_user_even_with_the_role() -> None:
    # A disabled user's mailbox tracks nothing, whatever roles the user still holds.
    facts = make_facts(owner=make_owner(is_active=False))

    assert verdict(facts, "tracking_role") == (Verdict.FAIL, "user Dana is disabled")


def test_tracking_role_does_not_apply_to_a_queue() -> None:
    # Queues hold no security role for tracking; they track by their own options.
    queue = make_owner(ref=SUPPORT, name="Support", privileges=frozenset())

    assert verdict(make_facts(owner=queue), "tracking_role") == (
        Verdict.NOT_APPLICABLE,
        "queue Support tracks by its own options",
    )


def test_a_queue_owner_tracks_by_its_option_alone() -> None:
    # A queue with option "All email messages" and no privileges has its email tracked.
    queue = make_owner(ref=SUPPORT, name="Support", privileges=frozenset())
    mailbox = make_mailbox(address="support@northwind.example", owner=SUPPORT)

    decision = decide(make_facts(owner=queue, mailbox=mailbox))

    assert decision.tracked


# --- folder_tracked -----------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["INBOX", "Inbox", "inbox"])
def test_folder_tracked_passes_for_the_inbox_in_any_case(folder: str) -> None:
    # IMAP names the Inbox case-insensitively, and the Inbox is always tracked.
    assert verdict(make_facts(folder=folder), "folder_tracked") == (
        Verdict.PASS,
        "the Inbox is always tracked",
    )


def test_folder_tracked_fails_for_a_folder_without_a_rule() -> None:
    # Email in any other folder is tracked only through a folder-level rule.
    facts = make_facts(folder="Archive")

    assert verdict(facts, "folder_tracked") == (
        Verdict.FAIL,
        "folder 'Archive' has no folder-level tracking rule",
    )


def test_folder_tracked_passes_for_a_folder_with_a_rule() -> None:
    # A folder-level rule makes its folder tracked.
    facts = make_facts(folder="Clients", folder_rule=FolderTrackingRule(1, "Clients"))

    assert verdict(facts, "folder_tracked") == (
        Verdict.PASS,
        "folder 'Clients' is tracked by a folder-level rule",
    )


def test_folder_tracked_fails_when_the_organization_turns_folder_level_tracking_off() -> None:
    # An existing rule does nothing while the organization has folder-level tracking off.
    facts = make_facts(
        config=EmailConfiguration(folder_level_tracking=False),
        folder="Clients",
        folder_rule=FolderTrackingRule(1, "Clients"),
    )

    assert verdict(facts, "folder_tracked") == (
        Verdict.FAIL,
        "folder-level tracking is turned off for the organization",
    )


# --- automated_email ----------------------------------------------------------------------


def test_automated_email_passes_for_email_written_by_a_person() -> None:
    # No report type, no Auto-Submitted, no X-Autoreply: a person wrote it.
    assert verdict(make_facts(), "automated_email") == (
        Verdict.PASS,
        "written by a person: no header marks it as an automatic reply, bounce or receipt",
    )


def test_a_delivery_status_report_is_a_bounce() -> None:
    # multipart/report; report-type=delivery-status is a bounce, whoever sent it.
    facts = make_facts(headers=make_headers(report_type="delivery-status"))

    assert verdict(facts, "automated_email") == (
        Verdict.FAIL,
        "a bounce (marked by Content-Type: multipart/report; report-type=delivery-status)"
        " is not tracked",
    )


@pytest.mark.parametrize(
    ("sender", "return_path", "header"),
    [
        ("mailer-daemon@mx.contoso.example", "<>", "Return-Path: <> (the null return path)"),
        ("postmaster@contoso.example", "<>", "Return-Path: <> (the null return path)"),
        (
            "mailer-daemon@mx.contoso.example",
            None,
            "From: mailer-daemon@mx.contoso.example with no Return-Path",
        ),
        (
            "postmaster@contoso.example",
            None,
            "From: postmaster@contoso.example with no Return-Path",
        ),
    ],
)
def test_mail_from_mailer_daemon_with_a_null_return_path_is_a_bounce(
    sender: str, return_path: str | None, header: str
) -> None:
    # A bounce without a report type is known by its sender and its empty Return-Path.
    headers = make_headers(sender=Address("Mail Delivery System", sender), return_path=return_path)

    assert verdict(make_facts(headers=headers), "automated_email") == (
        Verdict.FAIL,
        f"a bounce (marked by {header}) is not tracked",
    )


def test_the_null_return_path_marks_an_automatic_reply_from_anyone() -> None:
    # RFC 3834 §3.3: automatic responses are sent with the null return path.
    headers = make_headers(return_path="<>")

    assert verdict(make_facts(headers=headers), "automated_email") == (
        Verdict.FAIL,
        "an automatic reply (marked by Return-Path: <> (the null return path)) is not tracked",
    )


def test_mail_from_postmaster_with_a_real_return_path_is_written_by_a_person() -> None:
    # A postmaster answering by hand has a real Return-Path: not a bounce.
    headers = make_headers(
        sender=Address("Postmaster", "postmaster@contoso.example"),
        return_path="<postmaster@contoso.example>",
    )

    assert verdict(make_facts(headers=headers), "automated_email")[0] is Verdict.PASS


def test_a_read_receipt_is_not_tracked() -> None:
    # multipart/report; report-type=disposition-notification is a read receipt (RFC 8098).
    facts = make_facts(headers=make_headers(report_type="disposition-notification"))

    assert verdict(facts, "automated_email") == (
        Verdict.FAIL,
        "a read receipt (marked by Content-Type: multipart/report;"
        " report-type=disposition-notification) is not tracked",
    )


@pytest.mark.parametrize("value", ["auto-replied", "auto-generated", "auto-notified"])
def test_an_auto_submitted_email_is_an_automatic_reply(value: str) -> None:
    # Any Auto-Submitted value but "no" marks an automatic email (RFC 3834).
    facts = make_facts(headers=make_headers(auto_submitted=value))

    assert verdict(facts, "automated_email") == (
        Verdict.FAIL,
        f"an automatic reply (marked by Auto-Submitted: {value}) is not tracked",
    )


def test_auto_submitted_no_means_written_by_a_person() -> None:
    # RFC 3834: "Auto-Submitted: no" says the email was not automatic.
    facts = make_facts(headers=make_headers(auto_submitted="no"))

    assert verdict(facts, "automated_email")[0] is Verdict.PASS


@pytest.mark.parametrize(
    "header", ["X-Autoreply: yes", "X-Autorespond: on", "X-Autoresponder: vacation"]
)
def test_the_x_autoreply_family_marks_an_automatic_reply(header: str) -> None:
    # Some servers mark out-of-office replies only with one of the X-Auto* headers.
    facts = make_facts(headers=make_headers(is_autoreply_flagged=True, autoresponder=header))

    assert verdict(facts, "automated_email") == (
        Verdict.FAIL,
        f"an automatic reply (marked by {header}) is not tracked",
    )


@pytest.mark.parametrize("precedence", ["bulk", "junk", "auto_reply"])
def test_precedence_bulk_junk_and_auto_reply_mark_automated_email(precedence: str) -> None:
    # Precedence is not standard, but autoresponders and bulk mailers set it.
    facts = make_facts(headers=make_headers(precedence=precedence))

    assert verdict(facts, "automated_email")[0] is Verdict.FAIL
    assert f"Precedence: {precedence}" in verdict(facts, "automated_email")[1]


def test_a_persons_post_to_a_mailing_list_is_not_automated() -> None:
    # List mail says Precedence: bulk, but a person wrote it: List-Id tells the two apart.
    headers = make_headers(precedence="bulk", list_id="<sales.lists.contoso.example>")

    assert verdict(make_facts(headers=headers), "automated_email")[0] is Verdict.PASS


def test_x_auto_response_suppress_alone_does_not_make_an_email_automated() -> None:
    # Exchange reads it as the sender's request; Outlook puts it on email people write.
    headers = make_headers(auto_response_suppress="All")

    assert verdict(make_facts(headers=headers), "automated_email") == (
        Verdict.PASS,
        "written by a person: no header marks it as an automatic reply, bounce or receipt"
        " (X-Auto-Response-Suppress: All only asks for no automatic answers)",
    )


def test_an_organization_that_tracks_automated_email_still_hears_which_header_marks_it() -> None:
    # With the setting off, the rule does not apply, and says what it would have decided by.
    facts = make_facts(
        headers=make_headers(auto_submitted="auto-replied", auto_response_suppress="All"),
        config=EmailConfiguration(skip_automated_email=False),
    )

    assert verdict(facts, "automated_email") == (
        Verdict.NOT_APPLICABLE,
        "an automatic reply (marked by Auto-Submitted: auto-replied), and"
        " X-Auto-Response-Suppress: All agrees; the organization tracks automated email",
    )


# --- already_tracked ----------------------------------------------------------------------


def test_already_tracked_passes_for_an_email_with_no_activity() -> None:
    # An email no one has tracked yet passes.
    assert verdict(make_facts(), "already_tracked") == (
        Verdict.PASS,
        "no activity exists for this email yet",
    )


def test_already_tracked_fails_for_the_same_owner_twice() -> None:
    # The same email seen twice by one owner is one activity.
    facts = make_facts(tracked_for=frozenset({DANA}))

    assert verdict(facts, "already_tracked") == (Verdict.FAIL, "already tracked for this owner")


def test_already_tracked_fails_for_an_email_tracked_from_another_mailbox() -> None:
    # An email from a contact tracked for Omar is not tracked again for Dana.
    facts = make_facts(tracked_for=frozenset({OMAR}))

    assert verdict(facts, "already_tracked") == (
        Verdict.FAIL,
        "already tracked from another mailbox",
    )


def test_email_between_users_is_tracked_once_for_each_when_the_organization_asks() -> None:
    # "Track email between users as two activities": a user's email to a user counts twice.
    facts = make_facts(
        config=EmailConfiguration(track_between_users_as_two_activities=True),
        headers=make_headers(sender=Address("Omar", "omar@northwind.example")),
        sender_kinds=frozenset({RecordKind.USER}),
        tracked_for=frozenset({OMAR}),
    )

    assert verdict(facts, "already_tracked") == (
        Verdict.PASS,
        "sent between users: the organization tracks it once for each",
    )


def test_email_between_users_is_tracked_once_when_the_option_is_off() -> None:
    # By default a user's email to another user is one activity.
    facts = make_facts(
        headers=make_headers(sender=Address("Omar", "omar@northwind.example")),
        sender_kinds=frozenset({RecordKind.USER}),
        tracked_for=frozenset({OMAR}),
    )

    assert verdict(facts, "already_tracked") == (
        Verdict.FAIL,
        "already tracked from another mailbox",
    )


def test_two_activities_apply_only_when_the_sender_is_a_user() -> None:
    # Email from a contact to two users stays one activity even with the option on.
    facts = make_facts(
        config=EmailConfiguration(track_between_users_as_two_activities=True),
        tracked_for=frozenset({OMAR}),
    )

    assert verdict(facts, "already_tracked") == (
        Verdict.FAIL,
        "already tracked from another mailbox",
    )


def test_two_activities_apply_only_when_the_owner_is_a_user() -> None:
    # A queue receiving a user's email already tracked for that user does not track it again.
    facts = make_facts(
        config=EmailConfiguration(track_between_users_as_two_activities=True),
        owner=make_owner(ref=SUPPORT, name="Support", privileges=frozenset()),
        sender_kinds=frozenset({RecordKind.USER}),
        tracked_for=frozenset({OMAR}),
    )

    assert verdict(facts, "already_tracked") == (
        Verdict.FAIL,
        "already tracked from another mailbox",
    )


def test_two_activities_never_track_twice_for_the_same_owner() -> None:
    # Between users or not, one owner gets one activity per email.
    facts = make_facts(
        config=EmailConfiguration(track_between_users_as_two_activities=True),
        sender_kinds=frozenset({RecordKind.USER}),
        tracked_for=frozenset({DANA, OMAR}),
    )

    assert verdict(facts, "already_tracked") == (Verdict.FAIL, "already tracked for this owner")


# --- track_incoming_option: incoming email ------------------------------------------------

ALL_LABEL = "the owner's option is 'All email messages'"
RESPONSE_LABEL = "the owner's option is 'Email messages in response to email'"
CUSTOMERS_LABEL = "the owner's option is 'Email messages from Leads, Contacts, and Accounts'"
ENABLED_LABEL = "the owner's option is 'Email messages from records that are email enabled'"
NONE_LABEL = "the owner's option is 'No email messages'"


def incoming(option: TrackIncoming, **changes: object) -> tuple[Verdict, str]:
    """The option rule's verdict on an incoming email for an owner with ``option``."""
    return verdict(make_facts(owner=make_owner(option), **changes), "track_incoming_option")


def test_option_all_email_messages_tracks_email_from_anyone() -> None:
    # "All email messages" tracks even email from an address unknown to the CRM.
    assert incoming(TrackIncoming.ALL, sender_kinds=frozenset()) == (Verdict.PASS, ALL_LABEL)


def test_option_no_email_messages_tracks_nothing() -> None:
    # "No email messages" refuses even a contact's reply to tracked email.
    correlation = Correlation(CorrelationMethod.IN_REPLY_TO, 7)

    assert incoming(TrackIncoming.NONE, correlation=correlation) == (Verdict.FAIL, NONE_LABEL)


@pytest.mark.parametrize(
    "method",
    [
        CorrelationMethod.IN_REPLY_TO,
        CorrelationMethod.TRACKING_TOKEN,
        CorrelationMethod.CONVERSATION_INDEX,
        CorrelationMethod.SMART_MATCHING,
    ],
)
def test_option_in_response_tracks_a_reply_to_tracked_email_and_names_the_method(
    method: CorrelationMethod,
) -> None:
    # "Email messages in response to email" tracks email correlated by any method.
    correlation = Correlation(method, 7)

    assert incoming(TrackIncoming.IN_RESPONSE, correlation=correlation) == (
        Verdict.PASS,
        f"{RESPONSE_LABEL}; it answers tracked email (matched by {method.value})",
    )


def test_option_in_response_refuses_email_that_answers_nothing_tracked() -> None:
    # A new email from a known contact is not a response, so the default option refuses it.
    assert incoming(TrackIncoming.IN_RESPONSE) == (
        Verdict.FAIL,
        f"{RESPONSE_LABEL}; it answers no tracked email",
    )


@pytest.mark.parametrize(
    ("kinds", "words"),
    [
        ({RecordKind.CONTACT}, "a contact"),
        ({RecordKind.LEAD}, "a lead"),
        ({RecordKind.CONTACT, RecordKind.LEAD}, "a contact and a lead"),
        ({RecordKind.CONTACT, RecordKind.USER}, "a contact"),
    ],
)
def test_option_from_customers_tracks_email_from_leads_contacts_and_accounts(
    kinds: set[RecordKind], words: str
) -> None:
    # The reason names which customer kinds the sender matched, in alphabetical order.
    assert incoming(TrackIncoming.FROM_CUSTOMERS, sender_kinds=frozenset(kinds)) == (
        Verdict.PASS,
        f"{CUSTOMERS_LABEL}; the sender is {words} in the CRM",
    )


def test_option_from_customers_names_an_account_with_the_right_article() -> None:
    # The words an admin reads are English: "an account", not "a account".
    kinds = frozenset({RecordKind.ACCOUNT})

    assert incoming(TrackIncoming.FROM_CUSTOMERS, sender_kinds=kinds) == (
        Verdict.PASS,
        f"{CUSTOMERS_LABEL}; the sender is an account in the CRM",
    )


@pytest.mark.parametrize(
    "kinds", [frozenset(), frozenset({RecordKind.USER}), frozenset({RecordKind.QUEUE})]
)
def test_option_from_customers_refuses_email_from_users_queues_and_strangers(
    kinds: frozenset[RecordKind],
) -> None:
    # Users and queues are email-enabled but not customers; unknown senders are nothing.
    assert incoming(TrackIncoming.FROM_CUSTOMERS, sender_kinds=kinds) == (
        Verdict.FAIL,
        f"{CUSTOMERS_LABEL}; the sender is no such record in the CRM",
    )


@pytest.mark.parametrize(
    ("kinds", "words"),
    [
        ({RecordKind.USER}, "a user"),
        ({RecordKind.QUEUE}, "a queue"),
        ({RecordKind.LEAD}, "a lead"),
        ({RecordKind.CONTACT, RecordKind.USER}, "a contact and a user"),
    ],
)
def test_option_from_email_enabled_records_tracks_email_from_users_queues_and_customers(
    kinds: set[RecordKind], words: str
) -> None:
    # "Records that are email enabled" adds users and queues to the customer kinds.
    assert incoming(TrackIncoming.FROM_EMAIL_ENABLED, sender_kinds=frozenset(kinds)) == (
        Verdict.PASS,
        f"{ENABLED_LABEL}; the sender is {words} in the CRM",
    )


def test_option_from_email_enabled_records_refuses_an_unknown_sender() -> None:
    # An address that matches no record is not email-enabled.
    assert incoming(TrackIncoming.FROM_EMAIL_ENABLED, sender_kinds=frozenset()) == (
        Verdict.FAIL,
        f"{ENABLED_LABEL}; the sender is no such record in the CRM",
    )


def test_option_from_customers_ignores_who_the_recipients_are_for_incoming_email() -> None:
    # For email the owner received, only the sender's records count.
    assert incoming(
        TrackIncoming.FROM_CUSTOMERS,
        sender_kinds=frozenset(),
        recipient_kinds=frozenset({RecordKind.CONTACT}),
    ) == (Verdict.FAIL, f"{CUSTOMERS_LABEL}; the sender is no such record in the CRM")


# --- track_incoming_option: outgoing email (sender is the mailbox's own address) ----------

OUTGOING = make_headers(
    sender=Address("Dana", DANA_ADDRESS),
    to=(MARIA,),
    return_path="<dana@northwind.example>",
)


def outgoing(option: TrackIncoming, **changes: object) -> tuple[Verdict, str]:
    """The option rule's verdict on email Dana sent, for an owner with ``option``."""
    facts = make_facts(
        owner=make_owner(option),
        headers=OUTGOING,
        sender_kinds=frozenset({RecordKind.USER}),
        **changes,
    )
    assert facts.is_outgoing
    return verdict(facts, "track_incoming_option")


def test_email_from_the_mailboxs_own_address_is_outgoing() -> None:
    # The sender's address equals the mailbox's, whatever case the header used.
    mixed_case = make_headers(sender=Address("Dana", DANA_ADDRESS))
    mailbox = make_mailbox(address="Dana@Northwind.Example")

    assert make_facts(headers=mixed_case, mailbox=mailbox).is_outgoing
    assert not make_facts().is_outgoing
    assert not make_facts(headers=make_headers(sender=None)).is_outgoing


def test_outgoing_option_all_email_messages_tracks_sent_email() -> None:
    # "All email messages" tracks what the owner sent too.
    assert outgoing(TrackIncoming.ALL, recipient_kinds=frozenset()) == (Verdict.PASS, ALL_LABEL)


def test_outgoing_option_no_email_messages_tracks_no_sent_email() -> None:
    # "No email messages" applies to sent email as well.
    assert outgoing(TrackIncoming.NONE, recipient_kinds=frozenset({RecordKind.CONTACT})) == (
        Verdict.FAIL,
        NONE_LABEL,
    )


def test_outgoing_option_in_response_tracks_a_sent_reply_to_tracked_email() -> None:
    # A reply the owner sends to tracked email is tracked under the default option.
    correlation = Correlation(CorrelationMethod.TRACKING_TOKEN, 7)

    assert outgoing(TrackIncoming.IN_RESPONSE, correlation=correlation) == (
        Verdict.PASS,
        f"{RESPONSE_LABEL}; it answers tracked email (matched by tracking_token)",
    )


def test_outgoing_option_in_response_refuses_a_new_sent_email() -> None:
    # A new email the owner writes answers nothing tracked.
    assert outgoing(TrackIncoming.IN_RESPONSE) == (
        Verdict.FAIL,
        f"{RESPONSE_LABEL}; it answers no tracked email",
    )


def test_outgoing_option_from_customers_looks_at_the_recipients_not_the_sender() -> None:
    # For sent email the people it went to stand where the sender would.
    assert outgoing(
        TrackIncoming.FROM_CUSTOMERS, recipient_kinds=frozenset({RecordKind.CONTACT})
    ) == (Verdict.PASS, f"{CUSTOMERS_LABEL}; a recipient is a contact in the CRM")


def test_outgoing_option_from_customers_refuses_email_sent_only_to_colleagues() -> None:
    # The owner being a user does not make email to other users count as customer email.
    assert outgoing(TrackIncoming.FROM_CUSTOMERS, recipient_kinds=frozenset({RecordKind.USER})) == (
        Verdict.FAIL,
        f"{CUSTOMERS_LABEL}; a recipient is no such record in the CRM",
    )


def test_outgoing_option_from_email_enabled_records_tracks_email_sent_to_a_user() -> None:
    # A user is an email-enabled record, so email sent to a colleague counts.
    assert outgoing(
        TrackIncoming.FROM_EMAIL_ENABLED, recipient_kinds=frozenset({RecordKind.USER})
    ) == (Verdict.PASS, f"{ENABLED_LABEL}; a recipient is a user in the CRM")


def test_outgoing_option_from_email_enabled_records_refuses_email_to_strangers() -> None:
    # Sent email to addresses no record holds is refused under this option.
    assert outgoing(TrackIncoming.FROM_EMAIL_ENABLED, recipient_kinds=frozenset()) == (
        Verdict.FAIL,
        f"{ENABLED_LABEL}; a recipient is no such record in the CRM",
    )


# --- track_incoming_option: folder rules --------------------------------------------------


@pytest.mark.parametrize("option", list(TrackIncoming))
def test_a_folder_rule_overrides_the_owners_option(option: TrackIncoming) -> None:
    # Every email in a tracked folder is tracked, whatever the owner's personal option.
    facts = make_facts(
        owner=make_owner(option),
        folder="Clients",
        folder_rule=FolderTrackingRule(1, "Clients"),
        sender_kinds=frozenset(),
    )

    assert verdict(facts, "track_incoming_option") == (
        Verdict.NOT_APPLICABLE,
        "a folder-level rule tracks every email in its folder",
    )
    assert decide(facts).tracked


def test_the_option_still_applies_in_the_inbox_even_with_a_rule_object_present() -> None:
    # The Inbox is never governed by a folder rule: the owner's option decides there.
    facts = make_facts(
        owner=make_owner(TrackIncoming.NONE),
        folder="INBOX",
        folder_rule=FolderTrackingRule(1, "INBOX"),
    )

    assert verdict(facts, "track_incoming_option") == (Verdict.FAIL, NONE_LABEL)


# --- marked with the tracked category -----------------------------------------------------


def test_an_email_the_owner_marked_is_tracked_whatever_their_track_incoming_option() -> None:
    facts = make_facts(owner=make_owner(TrackIncoming.NONE), marked=True)
    decision = decide(facts)
    assert decision.tracked
    assert verdict(facts, "marked_with_category") == (
        Verdict.PASS,
        "tracked because you marked it with the category 'Tracked to Tidings'",
    )


def test_a_marked_automatic_reply_is_tracked_because_the_owner_chose_it() -> None:
    headers = make_headers(auto_submitted="auto-replied")
    assert not decide(make_facts(headers=headers)).tracked
    assert decide(make_facts(headers=headers, marked=True)).tracked


def test_marking_does_not_pass_over_the_tracking_role() -> None:
    owner = make_owner(privileges=frozenset({Privilege.READ_ACTIVITIES}))
    decision = decide(make_facts(owner=owner, marked=True))
    assert [r.rule for r in decision.failures] == ["tracking_role"]


def test_an_unmarked_email_says_the_category_was_not_set() -> None:
    assert verdict(make_facts(), "marked_with_category") == (
        Verdict.NOT_APPLICABLE,
        "not marked with the category 'Tracked to Tidings'",
    )
