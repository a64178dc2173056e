"""Exchange Online end to end: the sync engine and outgoing service, through the Graph
adapter, against the Graph contract fake."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.builders import Org, make_email, wall_clock
from tests.contract.graph_source import GraphSource, graph_source
from tests.contract.https_app import https_app
from tests.integration.sync_run import SyncRun, org_syncing, service_for
from tidings.adapters.graph.session import GraphDeltaOpener
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.activity import ActivityStatus
from tidings.domain.outgoing import OutboxPhase
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ServerProfileKind
from tidings.domain.stored import ActivityFilter
from tidings.entrypoints.api.app import create_app

DANA = "dana@northwind.example"


@pytest.fixture
def source(tmp_path: Path) -> Iterator[GraphSource]:
    with graph_source(tmp_path / "graph") as running:
        yield running


@pytest.fixture
def synced(source: GraphSource, database_url: str) -> Iterator[tuple[Org, SyncRun]]:
    with org_syncing(database_url, ("dana", "sam"), clock=wall_clock()) as (org, run):
        source.connect(org, ["dana", "sam"])
        yield org, run


def _subjects(org: Org) -> list[str]:
    return sorted(
        a.subject for a in org.tidings.queries.activities(ActivityFilter(limit=500)).items
    )


def _delta_requests(source: GraphSource, marker: str = "") -> list[str]:
    return [url for _, url in source.graph.requests if "/messages/delta" in url and marker in url]


def _small_pages(run: SyncRun, size: int):
    return service_for(
        run,
        delta_openers={
            ServerProfileKind.EXCHANGE_ONLINE: GraphDeltaOpener(GraphTokens(), page_size=size)
        },
    )


def test_new_mail_in_the_inbox_becomes_an_activity(source, synced):
    # Mail already there is caught up by the first delta round; mail arriving later is seen
    # by a later round through the delta link.
    org, run = synced
    source.deliver(DANA, make_email(subject="Before", message_id="<b@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    source.deliver(DANA, make_email(subject="After", message_id="<a@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert _subjects(org) == ["After", "Before"]
    [inbox] = org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders
    assert inbox.cursor is not None and "$deltatoken=" in (inbox.cursor.token or "")


def test_a_folder_is_read_over_several_pages_oldest_first(source, synced):
    # Seven messages in pages of three: three requests in the first round, each page
    # committed before the next is asked for, and every message tracked once.
    org, run = synced
    for i in range(7):
        source.deliver(DANA, make_email(subject=f"Mail {i}", message_id=f"<p{i}@c.example>"))
    run.start(_small_pages(run, 3))
    run.wait_for(lambda: len(run.results) == 7)
    first_round = [u for u in _delta_requests(source) if "dana" in u][:3]
    assert ["$skiptoken=" in u for u in first_round] == [False, True, True]
    assert _subjects(org) == [f"Mail {i}" for i in range(7)]


def test_a_forgotten_delta_link_reads_the_folder_again_without_duplicates(source, synced):
    # Graph answers 410 for a delta link it no longer knows: the folder is read from the
    # start, and what was tracked already is not tracked again.
    org, run = synced
    source.deliver(DANA, make_email(subject="One", message_id="<r1@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    source.lose_cursors()
    source.deliver(DANA, make_email(subject="Two", message_id="<r2@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert _subjects(org) == ["One", "Two"]
    dana_rounds = [u for u in _delta_requests(source) if "dana" in u]
    fresh_starts = [u for u in dana_rounds if "token=" not in u]
    assert len(fresh_starts) == 2  # the first sync, and the one after the 410


def test_throttling_waits_the_retry_after_then_goes_on(source, synced):
    # 429 with Retry-After is no failure: no alert, and the mail arrives once Graph serves.
    org, run = synced
    source.throttle(3)
    source.deliver(DANA, make_email(subject="Later", message_id="<t@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    assert source.graph.throttled == 0
    assert run.alerts == []
    assert _subjects(org) == ["Later"]


def test_a_wrong_client_secret_alerts_and_disables_the_mailbox(source, synced):
    # AADSTS7000215 is permanent: alerts in an admin's words, then the mailbox is disabled.
    org, run = synced
    source.break_credentials(org, "sam")
    run.start(service_for(run))
    run.wait_for(lambda: any(alert.disabled for alert in run.alerts))
    with org.tidings.uow() as uow:
        sam = uow.mailboxes.get(org.mailboxes["sam"])
        texts = [a.text for a in sam.alerts]
    assert not sam.enabled
    assert (
        texts.count(
            "Microsoft sign-in: the client secret was refused: enter the secret's Value (not its "
            "Secret ID) from the app registration's Certificates & secrets page (AADSTS7000215)"
        )
        == 3
    )
    assert texts[-1].startswith("Mailbox disabled after 3 permanent failures in a row")


def test_an_expired_token_is_refreshed_and_sync_goes_on(source, synced):
    # A token Graph refuses (401) is dropped from MSAL's cache and fetched again, once.
    org, run = synced
    source.deliver(DANA, make_email(subject="One", message_id="<e1@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    source.graph.expire_tokens()
    source.deliver(DANA, make_email(subject="Two", message_id="<e2@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert run.alerts == [] and _subjects(org) == ["One", "Two"]


def test_mail_in_a_tracked_folder_is_found_by_its_display_name_path(source, synced):
    org, run = synced
    source.deliver(DANA, make_email(subject="Deal", message_id="<d@c.example>"), "Clients/Contoso")
    org.add_folder_rule("dana", "Clients/Contoso", org.records["deal"])
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    [activity] = org.tidings.queries.activities(ActivityFilter()).items
    assert (activity.subject, activity.regarding) == ("Deal", org.records["deal"])


def test_crm_email_goes_out_once_through_send_mail(source, synced):
    # Pending send → sent: the MIME with its fixed Message-ID reaches sendMail once.
    org, _ = synced
    caller = Caller(org.users["dana"], frozenset(Privilege))
    activity_id = org.tidings.outgoing.queue(
        caller,
        mailbox_id=org.mailboxes["dana"],
        to=["maria@contoso.example"],
        subject="Quote for 500 seats",
        body="Hello Maria,\n",
    )
    pending = org.tidings.queries.activity(activity_id).activity
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert result.phase is OutboxPhase.SENT, result.error
    assert asyncio.run(org.tidings.outgoing.send_pending()) == []
    [raw] = source.sent(DANA)
    sent = message_from_bytes(raw, policy=policy.default)
    assert (sent["Message-ID"], sent["Subject"]) == (pending.message_id, pending.subject)
    assert org.tidings.queries.activity(activity_id).activity.status is ActivityStatus.SENT


def test_a_change_notification_wakes_sync_and_the_subscription_ends_with_it(source, synced):
    # With a public notification URL each folder is subscribed to; Graph's notification of
    # new mail wakes sync at once though the profile polls only hourly, and stopping sync
    # deletes the subscriptions.
    org, run = synced
    with https_app(create_app(org.tidings), source.graph.certificates) as base:
        with org.tidings.uow() as uow:
            for profile in uow.server_profiles.all():
                profile.options["notification_url"] = f"{base}/api/push/exchange_online"
                profile.min_polling_interval_minutes = 60
                uow.server_profiles.save(profile)
            uow.commit()
        source.deliver(DANA, make_email(subject="One", message_id="<n1@c.example>"))
        run.start(org.tidings.sync)  # shares the notification hub with the API
        run.wait_for(lambda: len(run.results) == 1)
        source.deliver(DANA, make_email(subject="Two", message_id="<n2@c.example>"))
        run.wait_for(lambda: len(run.results) == 2)
        assert {status for _, status in source.graph.notifications} == {202}
        assert len(source.graph.subscriptions) == 2  # dana's and sam's Inbox
        # One round at the start, one woken by the notification: no polling in between.
        assert len([u for u in _delta_requests(source) if "dana" in u]) == 2
        run.stop()
    assert source.graph.subscriptions == {}
    assert _subjects(org) == ["One", "Two"]
