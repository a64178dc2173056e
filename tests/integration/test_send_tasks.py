"""The bodies of the queue's tasks for one email and one webhook delivery, and the send job
written in the transaction that queues the email (PostgreSQL).

A task body may be run again for the same subject, after a crash or a duplicate job: it
finds the subject done and does nothing, and an email handed over by a run that died is
failed as interrupted, never sent again.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.exc import DBAPIError

from tests.builders import Org, make_email
from tests.compose_helpers import add_sending_user
from tests.conftest import TEST_SECRET_KEY
from tests.database_locks import postgres_conninfo
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tests.servers.webhook_receiver import (  # noqa: F401
    WebhookReceiver,
    webhook_receiver_fixture,
)
from tidings.adapters.storage.unit_of_work import SqlAlchemyUnitOfWork
from tidings.adapters.webhook_sender import HttpxWebhookSender
from tidings.adapters.webhook_targets import WebhookTargetPolicy
from tidings.domain.outgoing import INTERRUPTED_AFTER_HANDOVER, OutboxPhase
from tidings.domain.people import Caller, Privilege
from tidings.domain.retry import RetryLater
from tidings.domain.stored import OutboxItem
from tidings.domain.webhooks import RetryPolicy
from tidings.services.mailbox_bulk import BulkAction
from tidings.services.webhooks import WebhookService

MARIA = "maria@contoso.example"
POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _queue(org: Org, subject: str = "Quote") -> int:
    caller = Caller(org.users["sam"], frozenset(Privilege))
    return org.tidings.outgoing.queue(
        caller, mailbox_id=org.mailboxes["sam"], to=[MARIA], subject=subject, body="Hello\n"
    )


def _item(org: Org, activity_id: int) -> OutboxItem:
    with org.tidings.uow() as uow:
        item = uow.outbox.get(activity_id)
    assert item is not None
    return item


def _send_jobs(database_url: str) -> list[tuple[object, ...]]:
    with psycopg.connect(postgres_conninfo(database_url)) as conn:
        return list(
            conn.execute(
                "SELECT args->>'activity_id', lock, queueing_lock, status FROM procrastinate_jobs"
                " WHERE task_name = 'send_email' ORDER BY id"
            )
        )


def test_a_send_task_sends_once_and_then_finds_nothing_to_do(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org)
    outgoing = org.tidings.outgoing
    result = asyncio.run(outgoing.send_one(activity_id))
    assert result is not None and result.phase is OutboxPhase.SENT
    assert asyncio.run(outgoing.send_one(activity_id)) is None
    assert len(smtp_server.wait_for(1)) == 1


def test_a_send_task_records_a_transient_refusal_and_asks_to_be_retried_later(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    smtp_server.deferred_recipients = {MARIA}
    activity_id = _queue(org)
    outgoing = org.tidings.outgoing
    with pytest.raises(RetryLater) as first:
        asyncio.run(outgoing.send_one(activity_id))
    with pytest.raises(RetryLater) as second:
        asyncio.run(outgoing.send_one(activity_id))
    # The back-off doubles from its first wait.
    assert (first.value.seconds, second.value.seconds) == (30, 60)
    item = _item(org, activity_id)
    assert (item.phase, item.attempts) == (OutboxPhase.QUEUED, 2)
    assert item.last_error is not None and "451" in (first.value.reason or "")
    smtp_server.deferred_recipients = set()
    result = asyncio.run(outgoing.send_one(activity_id))
    assert result is not None and result.phase is OutboxPhase.SENT
    assert len(smtp_server.wait_for(1)) == 1


def test_an_email_found_handed_over_fails_as_interrupted_and_is_not_sent(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org)
    with org.tidings.uow() as uow:  # what a run that died mid-handover leaves
        uow.outbox.claim(activity_id, org.tidings.clock.now())
        uow.outbox.set_phase(activity_id, OutboxPhase.HANDED_OVER, org.tidings.clock.now())
        uow.commit()
    result = asyncio.run(org.tidings.outgoing.send_one(activity_id))
    assert result is not None and result.phase is OutboxPhase.FAILED
    assert _item(org, activity_id).last_error == INTERRUPTED_AFTER_HANDOVER
    assert smtp_server.messages == []


def test_an_email_taken_by_a_send_within_its_lease_waits_for_the_lease(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org)
    with org.tidings.uow() as uow:
        uow.outbox.claim(activity_id, org.tidings.clock.now())
        uow.commit()
    with pytest.raises(RetryLater) as waiting:
        asyncio.run(org.tidings.outgoing.send_one(activity_id))
    assert waiting.value.seconds == timedelta(minutes=10).total_seconds()
    assert smtp_server.messages == []


def test_giving_up_fails_the_email_with_the_reason_and_an_alert(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org)
    asyncio.run(org.tidings.outgoing.give_up(activity_id, "StorageError: the database is gone"))
    item = _item(org, activity_id)
    assert (item.phase, item.last_error) == (
        OutboxPhase.FAILED,
        "StorageError: the database is gone",
    )
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["sam"])
    assert mailbox is not None
    assert any(f"Email activity {activity_id}" in a.text for a in mailbox.alerts)
    # An email that failed already keeps its reason.
    asyncio.run(org.tidings.outgoing.give_up(activity_id, "again"))
    assert _item(org, activity_id).last_error == "StorageError: the database is gone"


def test_an_email_fails_only_together_with_its_alert(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    # One transaction: an alert that cannot be written leaves the email as it was, to be
    # failed again, rather than failed with no owner ever told (or told after a delay
    # that a reader of the failed email would see as no alert).
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org)
    _refuse_alerts(org)
    with pytest.raises(DBAPIError, match="the alert could not be written"):
        asyncio.run(org.tidings.outgoing.give_up(activity_id, "gone"))
    assert _item(org, activity_id).phase is OutboxPhase.QUEUED


def _refuse_alerts(org: Org) -> None:
    """The database refuses every new mailbox alert, as a full disk or a lost connection
    would refuse the write (a trigger)."""
    engine = org.tidings.engine
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse_alert() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'the alert could not be written'; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_alert BEFORE INSERT ON mailbox_alerts "
                "FOR EACH ROW EXECUTE FUNCTION refuse_alert()"
            )
        else:
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse_alert BEFORE INSERT ON mailbox_alerts "
                "BEGIN SELECT RAISE(ABORT, 'the alert could not be written'); END"
            )


@POSTGRES
def test_queuing_an_email_defers_its_send_job_in_the_same_transaction(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer, database_url: str
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    activity_id = _queue(org)
    lock = f"send:{activity_id}"
    assert _send_jobs(database_url) == [(str(activity_id), lock, lock, "todo")]
    # Queued again while its job still waits: the one job does, and the queuing commits.
    with org.tidings.uow() as uow:
        uow.outbox.requeue(activity_id, org.tidings.clock.now())
        uow.commit()
    assert _send_jobs(database_url) == [(str(activity_id), lock, lock, "todo")]
    # A transaction rolled back leaves no job behind.
    with psycopg.connect(postgres_conninfo(database_url)) as conn:
        conn.execute("DELETE FROM procrastinate_jobs WHERE task_name = 'send_email'")
    with SqlAlchemyUnitOfWork(org.tidings.engine) as uow:
        uow.outbox.requeue(activity_id, org.tidings.clock.now())
        uow.rollback()
    assert _send_jobs(database_url) == []


def test_a_delivery_task_retries_a_failing_receiver_then_delivers_once(
    org: Org, webhook_receiver: WebhookReceiver
) -> None:
    targets = WebhookTargetPolicy(allow_private=True)
    service = WebhookService(
        org.tidings.uow,
        org.tidings.secrets,
        HttpxWebhookSender(targets),
        org.tidings.clock,
        policy=RetryPolicy(max_attempts=3, base=timedelta(0)),
        targets=targets,
    )
    caller = Caller(org.users["dana"], frozenset(Privilege))
    hook = service.create(caller, webhook_receiver.url, ["activity.created"]).subscription
    webhook_receiver.answers = [500, 200]
    org.deliver(make_email())
    deferred: list[int] = []

    async def defer(ids: Collection[int]) -> int:
        deferred.extend(ids)
        return len(ids)

    # The sweep hands the event out and defers a task for the delivery now due.
    assert asyncio.run(service.sweep(defer)) == 1
    [delivery_id] = deferred
    with pytest.raises(RetryLater) as failed:
        asyncio.run(service.deliver_one(delivery_id))
    assert failed.value.reason == "the receiver answered HTTP 500"
    attempt = asyncio.run(service.deliver_one(delivery_id))
    assert attempt is not None and (attempt.number, attempt.status_code) == (2, 200)
    assert asyncio.run(service.deliver_one(delivery_id)) is None
    asyncio.run(service.give_up(delivery_id, "too late"))
    [delivery] = service.deliveries(caller, hook.id or 0)
    assert (delivery.status.value, delivery.attempts) == ("delivered", 2)
    assert [webhook_receiver.wait_for().body for _ in range(2)]
    assert webhook_receiver.requests.empty()


@POSTGRES
def test_bulk_test_and_enable_queues_one_task_per_mailbox_within_the_profiles_connections(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer, database_url: str
) -> None:
    add_sending_user(org, smtp_server, dovecot)
    ids = [org.mailboxes["dana"], org.mailboxes["sam"]]
    with org.tidings.uow() as uow:
        for profile in uow.server_profiles.all():
            profile.max_concurrent_connections = 1
            uow.server_profiles.save(profile)
        uow.commit()
    caller = Caller(org.users["dana"], frozenset(Privilege))
    outcomes = asyncio.run(
        org.tidings.mailbox_bulk.run(caller, BulkAction.TEST_ENABLE, [*ids, 2_000_000_000])
    )
    assert [(o.outcome, o.succeeded) for o in outcomes] == [
        ("queued", True),
        ("queued", True),
        ("skipped", False),
    ]
    with psycopg.connect(postgres_conninfo(database_url)) as conn:
        jobs = list(
            conn.execute(
                "SELECT (args->>'mailbox_id')::int, lock, queueing_lock FROM procrastinate_jobs"
                " WHERE task_name = 'test_mailbox' ORDER BY id"
            )
        )
    # One connection per profile: every test of a profile has its one slot as lock.
    assert jobs == [
        (i, f"profile:{p}:0" if p is not None else f"test:{i}", f"test:{i}")
        for i, p in zip(ids, _profiles(org, ids), strict=True)
    ]


def _profiles(org: Org, ids: list[int]) -> list[int | None]:
    with org.tidings.uow() as uow:
        return [uow.mailboxes.get(i).profile_id for i in ids]  # type: ignore[union-attr]


@POSTGRES
def test_tidings_send_beside_workers_defers_the_missing_send_tasks_and_fails_nothing(
    org: Org, smtp_server: SmtpServer, dovecot: DovecotServer, database_url: str
) -> None:
    # A worker may be handing an email over: failing it as interrupted (``recover``) would
    # keep it from ever being sent. The command gives each queued email without a task one.
    add_sending_user(org, smtp_server, dovecot)
    lost, waiting, in_hand = _queue(org, "Lost"), _queue(org, "Waiting"), _queue(org, "In hand")
    with psycopg.connect(postgres_conninfo(database_url)) as conn:
        conn.execute("DELETE FROM procrastinate_jobs WHERE args->>'activity_id' = %s", (str(lost),))
    with org.tidings.uow() as uow:
        uow.outbox.set_phase(in_hand, OutboxPhase.HANDED_OVER, org.tidings.clock.now())
        uow.commit()
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
    }
    tidings = str(Path(sys.executable).with_name("tidings"))
    done = subprocess.run(
        [tidings, "send"], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    assert (
        done.stdout.split()
        == (
            "The workers send email on PostgreSQL; queued email without a send task: 1, each "
            "given one."
        ).split()
    )
    assert sorted(_send_jobs(database_url)) == sorted(
        (str(i), f"send:{i}", f"send:{i}", "todo") for i in (lost, waiting, in_hand)
    )
    assert _item(org, in_hand).phase is OutboxPhase.HANDED_OVER
    assert [_item(org, i).phase for i in (lost, waiting)] == [OutboxPhase.QUEUED] * 2
    assert smtp_server.messages == []
