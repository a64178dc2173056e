"""Gmail end to end: the sync engine, Test & Enable and sending, through the Gmail adapter
against the Gmail contract fake, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from tests.builders import Org, TickingClock, make_email, wall_clock
from tests.contract.gmail_fake_push import PushSubscription
from tests.contract.gmail_source import CLIENT_ID, DOMAIN, GmailSource, gmail_profile, gmail_source
from tests.contract.https_app import https_app
from tests.integration.sync_run import SyncRun, org_syncing, service_for
from tests.waiting import wait_until
from tidings.domain.mailbox import TestStatus
from tidings.domain.outgoing import OutboxPhase
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordRef
from tidings.domain.server_profile import CredentialSource
from tidings.domain.stored import ActivityFilter
from tidings.entrypoints.api.app import create_app
from tidings.services.server_profiles import ProfileSecret

DANA = f"dana@{DOMAIN}"
SAM = f"sam@{DOMAIN}"
HISTORY = "GET /gmail/v1/users/me/history"
LIST = "GET /gmail/v1/users/me/messages"
TOPIC = "projects/tidings-test/topics/gmail"
AUDIENCE = "https://tidings.northwind.example/api/push/gmail"
PUSH_ACCOUNT = "gmail-push@tidings-test.iam.gserviceaccount.com"
DELEGATION_MISSING = (
    "domain-wide delegation not granted for scope https://www.googleapis.com/auth/gmail.modify: "
    f"add the client id {CLIENT_ID} in the Admin console"
)


@pytest.fixture
def gmail(tmp_path: Path) -> Iterator[GmailSource]:
    with gmail_source(tmp_path / "gmail") as source:
        yield source


@pytest.fixture
def org_run(database_url: str, clock: TickingClock) -> Iterator[tuple[Org, SyncRun]]:
    with org_syncing(database_url, ("dana", "sam"), clock) as (org, run):
        yield org, run


@pytest.fixture
def clock() -> TickingClock:
    """Tidings' clock, in step with the fake's wall clock (a watch lasts 7 days from now)."""
    return wall_clock()


@pytest.fixture
def synced(gmail: GmailSource, org_run: tuple[Org, SyncRun]) -> tuple[Org, SyncRun]:
    org, run = org_run
    gmail.connect(org, ["dana", "sam"])
    return org, run


def admin(org: Org) -> Caller:
    return Caller(org.users["dana"], frozenset(Privilege))


def subjects(org: Org) -> list[str]:
    page = org.tidings.queries.activities(ActivityFilter(limit=500))
    return sorted(a.subject for a in page.items)


def regarding(org: Org) -> dict[str, RecordRef | None]:
    page = org.tidings.queries.activities(ActivityFilter(limit=500))
    return {a.subject: a.regarding for a in page.items}


def gets(gmail: GmailSource) -> int:
    return sum(1 for r in gmail.fake.requests if r.startswith(f"{LIST}/"))


def test_new_mail_in_the_inbox_becomes_one_activity_each_round(
    gmail: GmailSource, synced: tuple[Org, SyncRun]
) -> None:
    # The first round lists the INBOX label; later rounds read history from its historyId.
    org, run = synced
    gmail.deliver(DANA, make_email(subject="First", message_id="<1@contoso>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    gmail.deliver(DANA, make_email(subject="Second", message_id="<2@contoso>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert [r.summary for r in run.results] == ["tracked", "tracked"]
    assert subjects(org) == ["First", "Second"]
    assert HISTORY in gmail.fake.requests
    assert gets(gmail) == 2


def test_a_user_label_is_a_folder_and_a_move_into_it_is_new_mail(
    gmail: GmailSource, synced: tuple[Org, SyncRun]
) -> None:
    # Folder-level tracking reads the label named like the folder; labelAdded = moved in.
    org, run = synced
    org.add_folder_rule("dana", "Projects/Contoso", org.records["deal"])
    gmail.fake.create_label(DANA, "Projects/Contoso")
    moved = gmail.fake.deliver(DANA, make_email(subject="Moved", message_id="<mv@contoso>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    gmail.fake.relabel(DANA, moved, add=("Projects/Contoso",), remove=("INBOX",))
    gmail.deliver(
        DANA, make_email(subject="Filed", message_id="<f@contoso>"), folder="Projects/Contoso"
    )
    # The moved message is read again from its new folder, and stays one activity, which
    # takes the folder rule's regarding (the move settles as docs/moves-and-deletes.md says).
    deal = org.records["deal"]
    run.wait_for(lambda: regarding(org) == {"Filed": deal, "Moved": deal})
    assert subjects(org) == ["Filed", "Moved"]
    assert gets(gmail) == 3


def test_pages_of_the_first_listing_and_of_history_are_all_read(
    gmail: GmailSource, synced: tuple[Org, SyncRun]
) -> None:
    org, run = synced
    gmail.fake.page_limit = 2
    for n in range(5):
        gmail.deliver(DANA, make_email(subject=f"Listed {n}", message_id=f"<l{n}@contoso>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 5)
    for n in range(5):
        gmail.deliver(DANA, make_email(subject=f"History {n}", message_id=f"<h{n}@contoso>"))
    run.wait_for(lambda: len(run.results) == 10)
    assert len(subjects(org)) == 10
    assert gets(gmail) == 10


def test_process_email_received_after_bounds_the_first_listing(
    gmail: GmailSource, org_run: tuple[Org, SyncRun]
) -> None:
    org, run = org_run
    profile = gmail_profile(gmail.fake, CredentialSource.MAILBOX)
    profile.process_email_received_after = datetime(2026, 6, 1, tzinfo=UTC)
    gmail.fake.add_mailbox(DANA)
    org.use_profile(profile, {"dana": json.dumps(gmail.key)})
    old = datetime(2026, 5, 1, tzinfo=UTC)
    gmail.fake.deliver(DANA, make_email(subject="Old", message_id="<old@c>"), received=old)
    gmail.deliver(DANA, make_email(subject="New", message_id="<new@c>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    assert subjects(org) == ["New"]
    assert gets(gmail) == 1


@pytest.fixture
def pushed(
    gmail: GmailSource, org_run: tuple[Org, SyncRun]
) -> Iterator[tuple[Org, SyncRun, PushSubscription]]:
    # Tidings' API over HTTPS; a Pub/Sub push subscription to its Gmail receiver; dana's
    # profile names the topic, the subscription's audience and service account, and polls
    # only hourly, so only a push can bring mail sooner.
    org, run = org_run
    # The label Tidings writes on tracked mail is a change Gmail publishes too; these tests
    # count the pushes that mail alone brings.
    org.configure(use_tracked_category=False)
    gmail.fake.create_topic(TOPIC)
    with https_app(create_app(org.tidings), gmail.fake.certificates) as base:
        subscription = gmail.fake.subscribe_push(
            TOPIC, f"{base}/api/push/gmail", PUSH_ACCOUNT, audience=AUDIENCE
        )
        profile = gmail_profile(gmail.fake, CredentialSource.MAILBOX)
        profile.options |= {
            "pubsub_topic": TOPIC,
            "push_audience": AUDIENCE,
            "push_service_account": PUSH_ACCOUNT,
            "push_certs_url": gmail.fake.certs_url,
        }
        profile.min_polling_interval_minutes = 60
        gmail.fake.add_mailbox(DANA)
        org.use_profile(profile, {"dana": json.dumps(gmail.key)})
        gmail.deliver(DANA, make_email(subject="Waiting", message_id="<w@contoso>"))
        run.start(org.tidings.sync)  # shares the push receiver with the API
        run.wait_for(lambda: len(run.results) == 1)
        yield org, run, subscription
        run.stop()


def test_a_pubsub_push_through_the_endpoint_wakes_the_folder_at_once(
    gmail: GmailSource, pushed: tuple[Org, SyncRun, PushSubscription]
) -> None:
    # The session watched the mailbox; Gmail's change reaches Tidings as Pub/Sub's push with
    # its OIDC token, which is accepted (204) and brings the mail without waiting an hour.
    org, run, subscription = pushed
    assert gmail.fake.watches[DANA][0] == TOPIC
    gmail.deliver(DANA, make_email(subject="Pushed", message_id="<p@contoso>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert subjects(org) == ["Pushed", "Waiting"]
    [delivery] = gmail.fake.pubsub.wait_for_deliveries(1)
    assert (delivery.subscription, delivery.address, delivery.status) == (
        subscription.name,
        DANA,
        204,
    )
    # One listing at the start, one history round woken by the push: no polling between.
    assert gmail.fake.requests.count(HISTORY) == 1
    assert gmail.fake.requests.count("POST /gmail/v1/users/me/watch") == 1
    # Google's certificates were fetched once and kept as their max-age allows.
    assert gmail.fake.requests.count("GET /oauth2/v1/certs") == 1


def test_the_watch_is_renewed_daily_by_tidings_clock(
    gmail: GmailSource, pushed: tuple[Org, SyncRun, PushSubscription], clock: TickingClock
) -> None:
    # Google: a watch lasts 7 days, renew it daily. Once Tidings' clock says a day has
    # passed, the next wait watches the mailbox again.
    org, run, _ = pushed
    watch = "POST /gmail/v1/users/me/watch"
    assert gmail.fake.requests.count(watch) == 1
    clock.advance(hours=25)
    gmail.deliver(DANA, make_email(subject="A day later", message_id="<d@contoso>"))
    run.wait_for(lambda: len(run.results) == 2)
    # At least once: the fake's watch lasts 7 days by the wall clock, which Tidings' clock is
    # now a day ahead of, so each later wait (the round that reads back the category Tidings
    # wrote, say) renews it again, and a busy machine may poll past the first renewal.
    wait_until(lambda: gmail.fake.requests.count(watch) >= 2, 20, "the renewed watch")
    assert subjects(org) == ["A day later", "Waiting"]


def test_a_push_without_a_genuine_token_is_refused_and_wakes_nothing(
    gmail: GmailSource, pushed: tuple[Org, SyncRun, PushSubscription]
) -> None:
    # No token, a token signed by a key Google never published, one for another audience
    # and one of another service account: each refused with an empty answer, none wakes sync.
    org, run, subscription = pushed
    pubsub = gmail.fake.pubsub
    other = gmail.fake.subscribe_push(TOPIC, subscription.endpoint, "intruder@evil.example")
    body = pubsub.envelope(subscription, {"emailAddress": DANA, "historyId": "99999"})
    tokens = {
        "none": None,
        "forged": pubsub.forged_token(subscription),
        "audience": pubsub.token(subscription, audience="https://evil.example/push"),
        "account": pubsub.token(other),
    }
    answers = {}
    with httpx.Client(verify=ssl.create_default_context(cafile=gmail.fake.ca_file)) as http:
        for name, token in tokens.items():
            headers = {} if token is None else {"Authorization": f"Bearer {token}"}
            answer = http.post(subscription.endpoint, json=body, headers=headers)
            answers[name] = (answer.status_code, answer.text)
        genuine = {"Authorization": f"Bearer {pubsub.token(subscription)}"}
        not_gmail = http.post(subscription.endpoint, json={"message": {}}, headers=genuine)
    assert answers == {
        "none": (401, ""),
        "forged": (403, ""),
        "audience": (403, ""),
        "account": (403, ""),
    }
    assert (not_gmail.status_code, not_gmail.text) == (400, "")
    # Then real mail and Pub/Sub's own push: only that one wakes a round of history.
    gmail.deliver(DANA, make_email(subject="Pushed", message_id="<p@contoso>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert [d.status for d in pubsub.wait_for_deliveries(2)] == [204, 403]
    assert gmail.fake.requests.count(HISTORY) == 1
    assert subjects(org) == ["Pushed", "Waiting"]


def test_an_expired_history_id_lists_the_folder_again_without_duplicates(
    gmail: GmailSource, synced: tuple[Org, SyncRun]
) -> None:
    # Gmail answers 404 for an old startHistoryId: sync lists the label again and fetches
    # only what the raw store lacks.
    org, run = synced
    gmail.deliver(DANA, make_email(subject="Before", message_id="<b@contoso>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    gmail.lose_cursors()
    gmail.deliver(DANA, make_email(subject="After", message_id="<a@contoso>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert subjects(org) == ["After", "Before"]
    assert gets(gmail) == 2
    dana_lists = [r for r in gmail.fake.requests if r == LIST]
    assert len(dana_lists) >= 3  # dana's and sam's first listing, then dana's again


def test_rate_limits_are_waited_out_without_an_alert(
    gmail: GmailSource, synced: tuple[Org, SyncRun]
) -> None:
    org, run = synced
    gmail.deliver(DANA, make_email(subject="Throttled", message_id="<t@contoso>"))
    gmail.throttle(3)
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    gmail.fake.throttle(2, status=403)
    gmail.deliver(DANA, make_email(subject="Later", message_id="<l@contoso>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert run.alerts == []
    assert gmail.fake.throttled == 5
    with org.tidings.uow() as uow:
        assert uow.mailboxes.get(org.mailboxes["dana"]).alerts == []


def test_missing_domain_wide_delegation_alerts_and_disables_the_mailboxes(
    gmail: GmailSource, org_run: tuple[Org, SyncRun]
) -> None:
    # The service account's key is held by the profile; the Admin console lacks its grant.
    org, run = org_run
    gmail.fake.add_mailbox(DANA)
    gmail.fake.revoke_delegation(CLIENT_ID)
    profile_id = org.use_profile(gmail_profile(gmail.fake, CredentialSource.PROFILE), {})
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        assert mailbox is not None
        mailbox.profile_id = profile_id
        uow.mailboxes.save(mailbox)
        uow.commit()
    key = json.dumps(gmail.key)
    org.tidings.server_profiles.set_credentials(
        admin(org), profile_id, ProfileSecret(gmail.key["client_email"], key)
    )
    run.start(service_for(run))
    run.wait_for(lambda: any(alert.disabled for alert in run.alerts))
    assert run.alerts[0].text.startswith(DELEGATION_MISSING)
    with org.tidings.uow() as uow:
        dana = uow.mailboxes.get(org.mailboxes["dana"])
        assert dana is not None and not dana.enabled
        assert any(a.text.startswith(DELEGATION_MISSING) for a in dana.alerts)


def test_and_enable_passes_a_delegated_mailbox_and_fails_a_broken_key(
    gmail: GmailSource, synced: tuple[Org, SyncRun]
) -> None:
    org, _ = synced
    gmail.break_credentials(org, "sam")
    ids = [org.mailboxes["dana"], org.mailboxes["sam"]]
    dana, sam = asyncio.run(org.tidings.mailboxes.test_and_enable(admin(org), ids))
    assert (dana.incoming.status, dana.outgoing.status) == (TestStatus.SUCCESS, TestStatus.SUCCESS)
    assert sam.incoming.status is TestStatus.FAILURE and sam.incoming.permanent
    assert "Google refused the service account for sam@northwind.example" in sam.incoming.message


def test_a_user_without_gmail_fails_test_and_enable_permanently(
    gmail: GmailSource, synced: tuple[Org, SyncRun]
) -> None:
    org, _ = synced
    org.add_user("printer")
    gmail.fake.add_mailbox(f"printer@{DOMAIN}", gmail=False)
    with org.tidings.uow() as uow:
        profile_id = uow.mailboxes.get(org.mailboxes["dana"]).profile_id
        printer = uow.mailboxes.get(org.mailboxes["printer"])
        printer.profile_id = profile_id
        uow.mailboxes.save(printer)
        uow.commit()
    org.tidings.mailboxes.set_credentials(
        admin(org), org.mailboxes["printer"], f"printer@{DOMAIN}", json.dumps(gmail.key)
    )
    [report] = asyncio.run(
        org.tidings.mailboxes.test_and_enable(admin(org), [org.mailboxes["printer"]])
    )
    assert report.incoming.status is TestStatus.FAILURE and report.incoming.permanent
    assert "cannot use the Gmail API (Mail service not enabled)" in report.incoming.message


def test_a_queued_email_is_sent_once_through_gmail_as_it_was_composed(
    gmail: GmailSource, synced: tuple[Org, SyncRun]
) -> None:
    org, _ = synced
    gmail.fake.expire_tokens()
    activity_id = org.tidings.outgoing.queue(
        admin(org),
        mailbox_id=org.mailboxes["dana"],
        to=["maria@contoso.example"],
        cc=[],
        subject="Quote for 500 seats",
        body="Hello Maria,\n",
        regarding=org.records["deal"],
    )
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert (result.activity_id, result.phase) == (activity_id, OutboxPhase.SENT)
    assert asyncio.run(org.tidings.outgoing.send_pending()) == []
    [raw] = gmail.sent(DANA)
    sent = message_from_bytes(raw, policy=policy.default)
    activity = org.tidings.queries.activity(activity_id).activity
    assert sent["Message-ID"] == activity.message_id
    assert sent["Subject"] == activity.subject
    assert gmail.fake.requests.count("POST /gmail/v1/users/me/messages/send") == 1
