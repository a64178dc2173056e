"""Exchange Server end to end: Tidings' sync engine, sending and Test & Enable, through the
EWS adapter and exchangelib, against the EWS contract fake, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.builders import Org, make_email
from tests.contract.ews_source import EwsSource, ews_source
from tests.integration.sync_run import SyncRun, org_syncing, service_for
from tidings.adapters.ews.session import EwsFolderOpener
from tidings.domain.mailbox import TestStatus
from tidings.domain.outgoing import OutboxPhase
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ServerProfileKind

DANA = "dana@northwind.example"


@pytest.fixture
def ews(tmp_path: Path) -> Iterator[EwsSource]:
    with ews_source(tmp_path / "ews") as source:
        yield source


@pytest.fixture
def synced(ews: EwsSource, database_url: str) -> Iterator[tuple[Org, SyncRun]]:
    with org_syncing(database_url, ("dana", "sam")) as (org, run):
        ews.connect(org, ["dana", "sam"])
        yield org, run


def subjects(run: SyncRun) -> list[str]:
    """The subjects of the activities sync recorded, one per ingested email."""
    queries = run.tidings.queries
    return sorted(
        queries.activity(r.activity_id).activity.subject
        for r in run.results
        if r.activity_id is not None
    )


def email(n: int) -> bytes:
    return make_email(subject=f"Quote {n}", message_id=f"<ews-{n}@contoso.example>")


def test_new_mail_in_the_inbox_becomes_one_activity(ews, synced):
    # A Create change in the Inbox's SyncFolderItems is fetched with GetItem and tracked.
    _org, run = synced
    ews.deliver(DANA, email(1))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    assert subjects(run) == ["Quote 1"]
    ews.deliver(DANA, email(2))
    run.wait_for(lambda: len(run.results) == 2)
    assert subjects(run) == ["Quote 1", "Quote 2"]


def test_a_folder_with_more_changes_than_a_page_is_read_page_by_page(ews, synced):
    # IncludesLastItemInRange false asks again at once; every message is tracked once.
    _org, run = synced
    for n in range(5):
        ews.deliver(DANA, email(n))
    opener = EwsFolderOpener(page_size=2)
    run.start(service_for(run, delta_openers={ServerProfileKind.EXCHANGE_SERVER: opener}))
    run.wait_for(lambda: len(run.results) == 5)
    assert subjects(run) == [f"Quote {n}" for n in range(5)]
    assert ews.server.operations(DANA).count("SyncFolderItems") >= 3


def test_a_tracked_folder_is_found_by_its_path(ews, synced):
    org, run = synced
    org.add_folder_rule("dana", "Projects/Contoso", org.records["deal"])
    ews.deliver(DANA, email(7), folder="Projects/Contoso")
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    assert subjects(run) == ["Quote 7"]


def test_an_invalid_sync_state_reads_the_folder_again_without_duplicates(ews, synced):
    # ErrorInvalidSyncStateData drops the cursor; the raw store knows the first message.
    _org, run = synced
    ews.deliver(DANA, email(1))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    fetched = ews.server.operations(DANA).count("GetItem")
    ews.lose_cursors()
    ews.deliver(DANA, email(2))
    run.wait_for(lambda: len(run.results) == 2)
    assert subjects(run) == ["Quote 1", "Quote 2"]
    # Only the new message was fetched again.
    assert ews.server.operations(DANA).count("GetItem") == fetched + 1


def test_a_busy_server_is_waited_for_and_raises_no_alert(ews, synced):
    # ErrorServerBusy's BackOffMilliseconds is a wait, not a failure.
    _org, run = synced
    ews.deliver(DANA, email(1))
    ews.throttle(3)
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    assert run.alerts == []
    assert subjects(run) == ["Quote 1"]
    assert ews.server.busy_answers == 3


def test_a_wrong_service_account_password_alerts_and_says_what_to_check(ews, synced):
    org, run = synced
    ews.break_credentials(org, "dana")
    run.start(service_for(run))
    run.wait_for(lambda: any(a.target.address == DANA for a in run.alerts))
    [text, *_] = [a.text for a in run.alerts if a.target.address == DANA]
    assert "authentication failed: check the service account's user name and password" in text


def test_impersonation_without_the_role_alerts_with_what_to_grant(ews, synced):
    _org, run = synced
    ews.server.set_service_account(
        "svc-tidings@northwind.example", "svc-pass", may_impersonate=False
    )
    run.start(service_for(run))
    run.wait_for(lambda: any(a.target.address == DANA for a in run.alerts))
    [text, *_] = [a.text for a in run.alerts if a.target.address == DANA]
    assert (
        "the service account may not impersonate this mailbox: grant it the "
        "ApplicationImpersonation role" in text
    )


def test_crm_email_is_sent_once_with_create_item_and_its_message_id(ews, synced):
    org, _run = synced
    caller = Caller(org.users["dana"], frozenset(Privilege))
    activity_id = org.tidings.outgoing.queue(
        caller,
        mailbox_id=org.mailboxes["dana"],
        to=["maria@contoso.example"],
        cc=[],
        subject="Quote for 500 seats",
        body="Hello Maria,\n",
        regarding=org.records["deal"],
    )
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert result.phase is OutboxPhase.SENT, result.error
    assert asyncio.run(org.tidings.outgoing.send_pending()) == []
    [raw] = ews.sent(DANA)
    sent = message_from_bytes(raw, policy=policy.default)
    activity = org.tidings.queries.activity(activity_id).activity
    assert sent["Message-ID"] == activity.message_id
    assert ews.server.operations(DANA).count("CreateItem") == 1


def test_test_and_enable_passes_with_the_service_account(ews, synced):
    org, _run = synced
    admin = Caller(org.users["dana"], frozenset(Privilege))
    [report] = asyncio.run(org.tidings.mailboxes.test_and_enable(admin, [org.mailboxes["sam"]]))
    assert (report.incoming.status, report.outgoing.status) == (
        TestStatus.SUCCESS,
        TestStatus.SUCCESS,
    ), (report.incoming.message, report.outgoing.message)
    assert report.enabled


def test_new_mail_wakes_a_listening_folder_long_before_its_polling_interval(ews, synced):
    # The streaming subscription ends the wait: the profile would otherwise poll hourly.
    org, run = synced
    with org.tidings.uow() as uow:
        [profile] = uow.server_profiles.all()
        profile.min_polling_interval_minutes = 60
        uow.server_profiles.save(profile)
        uow.commit()
    run.start(service_for(run))
    ews.server.wait_for_request("GetStreamingEvents", DANA)
    ews.deliver(DANA, email(1))
    run.wait_for(lambda: len(run.results) == 1)
    assert subjects(run) == ["Quote 1"]
    assert ews.server.operations(DANA).count("Subscribe") == 1


def test_an_expired_subscription_is_renewed_and_the_folder_read(ews, synced):
    _org, run = synced
    run.start(service_for(run))
    ews.server.wait_for_request("GetStreamingEvents", DANA)
    ews.server.forget_subscriptions()
    ews.deliver(DANA, email(1))
    # The open connection ends with its subscription gone; the next one is refused, the
    # session subscribes again and looks.
    run.wait_for(lambda: len(run.results) == 1)
    assert subjects(run) == ["Quote 1"]
    ews.server.wait_for_request("Subscribe", DANA, count=2)
    ews.deliver(DANA, email(2))
    run.wait_for(lambda: len(run.results) == 2)
