"""On PostgreSQL, sending an email and delivering a webhook are tasks of the workers' queue,
run by real ``tidings worker`` processes: each email is sent once whichever worker takes
it, a transient refusal is tried again after a back-off until it goes through or the
attempts run out (the email then fails with the server's words and an alert), and a
receiver that fails is tried again until it answers. Test & Enable asked for through the
bulk action, the API (``Prefer: respond-async``), a mailbox's page or ``tidings admin
test-enable --queue`` is run by a worker and recorded on the mailbox.

Each test waits on what the database or the servers say, never on time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.builders import Org, dovecot_profile
from tests.conftest import TEST_SECRET_KEY, settings_for
from tests.database_locks import HeldTable, hold_writes
from tests.e2e.worker_process import Ledger, Worker
from tests.integration.test_console import ADMIN, signed_in_admin
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import TEST_USERS
from tests.servers.smtp import SmtpServer
from tests.servers.webhook_receiver import (  # noqa: F401
    WebhookReceiver,
    webhook_receiver_fixture,
)
from tests.waiting import wait_until
from tidings.bootstrap import bootstrap
from tidings.domain.outgoing import INTERRUPTED_AFTER_HANDOVER
from tidings.domain.people import Caller, Privilege
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.cli.main import app as cli
from tidings.services.mailbox_bulk import BulkAction

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

MARIA = "maria@contoso.example"
RESPOND_ASYNC = {"Prefer": "respond-async"}
#: The longest any condition is waited for: worker processes starting on a busy machine.
PATIENCE = 120


@dataclass
class Site:
    org: Org
    smtp: SmtpServer
    ledger: Ledger
    workers: list[Worker]

    def start(self, count: int, **env: str) -> None:
        for worker in self.workers[:count]:
            worker.env.update({f"TIDINGS_{k.upper()}": v for k, v in env.items()})
            worker.start()

    def queue_email(self, subject: str) -> int:
        caller = Caller(self.org.users["dana"], frozenset(Privilege))
        return self.org.tidings.outgoing.queue(
            caller,
            mailbox_id=self.org.mailboxes["dana"],
            to=[MARIA],
            subject=subject,
            body="Hello Maria,\n",
        )

    def wait_phase(self, activity_id: int, phase: str) -> tuple[str, str | None]:
        wait_until(
            lambda: self.ledger.outbox().get(activity_id, ("",))[0] == phase,
            PATIENCE,
            lambda: f"email {activity_id} {phase} (workers said:\n{self.tails()})",
        )
        return self.ledger.outbox()[activity_id]

    def tails(self) -> str:
        return "\n".join(f"--- worker {n}:\n{w.tail()}" for n, w in enumerate(self.workers))


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    tidings = bootstrap(settings_for(database_url, webhook_allow_private=True))
    org = Org.create(tidings)
    dovecot = DovecotServer(tmp_path / "dovecot", TEST_USERS)
    smtp = SmtpServer(TEST_USERS)
    with dovecot, smtp:
        profile = dovecot_profile(dovecot, smtp)
        profile.options = {**profile.options, "save_sent_copy": "no"}
        org.use_profile(profile, {"dana": "dana-pass"})
        workers = []
        for n in range(2):
            (tmp_path / f"w{n}").mkdir()
            worker = Worker(database_url, tmp_path / f"w{n}")
            worker.env.update(
                {"TIDINGS_RETRY_FIRST_SECONDS": "1", "TIDINGS_WEBHOOK_ALLOW_PRIVATE": "true"}
            )
            workers.append(worker)
        ledger = Ledger(database_url)
        try:
            yield Site(org, smtp, ledger, workers)
        finally:
            for worker in workers:
                worker.kill()
            ledger.close()
            tidings.close()


def test_each_queued_email_is_sent_once_by_one_of_two_workers(site: Site) -> None:
    site.start(2)
    emails = [site.queue_email(f"Quote {n}") for n in range(6)]
    for activity_id in emails:
        assert site.wait_phase(activity_id, "sent") == ("sent", None)
    site.smtp.wait_for(6, timeout=PATIENCE)
    subjects = sorted(_subject(m.content) for m in site.smtp.messages)
    assert [s.rsplit(" CRM:", 1)[0] for s in subjects] == [f"Quote {n}" for n in range(6)]
    # The tasks end (and are forgotten) just after recording the email sent: nothing is
    # left to send again.
    wait_until(
        lambda: site.ledger.jobs("send_email") == {},
        PATIENCE,
        f"the send jobs gone (left: {site.ledger.jobs('send_email')})",
    )


def test_a_transient_refusal_is_tried_again_and_then_sent(site: Site) -> None:
    site.smtp.deferred_recipients = {MARIA}
    site.start(2)
    activity_id = site.queue_email("Busy")
    wait_until(
        lambda: site.ledger.attempts(activity_id) >= 2,
        PATIENCE,
        lambda: f"two refused tries (workers said:\n{site.tails()})",
    )
    assert site.smtp.messages == []
    site.smtp.deferred_recipients = set()
    site.wait_phase(activity_id, "sent")
    assert len(site.smtp.wait_for(1)) == 1


def test_a_refusal_that_lasts_fails_the_email_after_its_attempts_with_an_alert(
    site: Site,
) -> None:
    site.smtp.deferred_recipients = {MARIA}
    site.start(1, send_attempts="3")
    activity_id = site.queue_email("Never")
    _, error = site.wait_phase(activity_id, "failed")
    assert site.ledger.attempts(activity_id) == 3
    assert error is not None and "451" in error
    with site.org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(site.org.mailboxes["dana"])
    assert mailbox is not None
    assert any(f"Email activity {activity_id}" in alert.text for alert in mailbox.alerts)
    assert site.smtp.messages == []


def test_a_permanent_refusal_fails_the_email_at_once(site: Site) -> None:
    site.smtp.unknown_recipients = {MARIA}
    site.start(1)
    activity_id = site.queue_email("Nobody")
    _, error = site.wait_phase(activity_id, "failed")
    assert site.ledger.attempts(activity_id) == 1
    assert error is not None and "550" in error


def test_a_worker_killed_mid_send_leaves_the_email_to_another_that_never_sends_it_again(
    site: Site, database_url: str
) -> None:
    # Worker 0 is frozen after the server's 250 (the outbox held against writes), then
    # killed. Worker 1 takes over its send task once its heartbeat is stale, finds the
    # email handed over and fails it as interrupted; the server got it exactly once.
    site.start(1, takeover_seconds="6")
    held: list[HeldTable] = []
    site.smtp.before_accept = lambda _message: held.append(hold_writes(database_url, "outbox"))
    first = site.queue_email("Quote")
    try:
        site.smtp.wait_for(1, timeout=PATIENCE)
        assert held, "the outbox was not held when the server accepted"
        site.workers[0].kill()
    finally:
        site.smtp.before_accept = None
        for hold in held:
            hold.release()
    site.workers[1].env["TIDINGS_TAKEOVER_SECONDS"] = "6"
    site.workers[1].start()
    assert site.wait_phase(first, "failed") == ("failed", INTERRUPTED_AFTER_HANDOVER)
    second = site.queue_email("Follow-up")
    site.wait_phase(second, "sent")
    subjects = [_subject(m.content) for m in site.smtp.messages]
    assert len(subjects) == 2 and subjects[0].startswith("Quote")


def test_a_webhook_receiver_that_fails_is_tried_again_until_it_answers(
    site: Site, webhook_receiver: WebhookReceiver
) -> None:
    caller = Caller(site.org.users["dana"], frozenset(Privilege))
    site.org.tidings.webhooks.create(caller, webhook_receiver.url, ["activity.sent"])
    webhook_receiver.answers = [500, 503, 200]
    site.start(2)
    activity_id = site.queue_email("Hooked")
    site.wait_phase(activity_id, "sent")
    bodies = [webhook_receiver.wait_for(PATIENCE).body for _ in range(3)]
    assert len(set(bodies)) == 1 and str(activity_id).encode() in bodies[0]
    wait_until(
        lambda: site.ledger.deliveries() == [("delivered", 3)],
        PATIENCE,
        lambda: f"the delivery recorded (workers said:\n{site.tails()})",
    )
    assert webhook_receiver.requests.empty()


def test_bulk_test_and_enable_is_done_by_a_worker_and_recorded_on_the_mailbox(
    site: Site,
) -> None:
    dana = site.org.mailboxes["dana"]
    with site.org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(dana)
        assert mailbox is not None
        mailbox.enabled = False
        uow.mailboxes.save(mailbox)
        uow.commit()
    caller = Caller(site.org.users["dana"], frozenset(Privilege))
    [outcome] = asyncio.run(
        site.org.tidings.mailbox_bulk.run(caller, BulkAction.TEST_ENABLE, [dana])
    )
    assert outcome.outcome == "queued"
    site.start(1)

    def enabled() -> bool:
        with site.org.tidings.uow() as uow:
            found = uow.mailboxes.get(dana)
        return found is not None and found.enabled

    def said() -> str:
        with site.org.tidings.uow() as uow:
            found = uow.mailboxes.get(dana)
        alerts = [a.text for a in found.alerts] if found is not None else []
        jobs = site.ledger.jobs("test_mailbox")
        return (
            f"dana's mailbox enabled (its alerts: {alerts}; test jobs: {jobs}; "
            f"workers said:\n{site.tails()})"
        )

    wait_until(enabled, PATIENCE, said)
    with site.org.tidings.uow() as uow:
        tested = uow.mailboxes.get(dana)
    assert tested is not None
    assert any(a.text == "Test & Enable passed: enabled" for a in tested.alerts)
    wait_until(
        lambda: site.ledger.jobs("test_mailbox") == {},
        PATIENCE,
        f"the test job gone (left: {site.ledger.jobs('test_mailbox')})",
    )


def test_test_and_enable_queued_by_the_api_the_console_and_the_cli_is_run_by_a_worker(
    site: Site, database_url: str
) -> None:
    dana = site.org.mailboxes["dana"]
    caller = Caller(site.org.users["dana"], frozenset(Privilege))
    console = signed_in_admin(site.org)
    api = TestClient(create_app(site.org.tidings))
    api.auth = ADMIN
    env = {"TIDINGS_DATABASE_URL": database_url, "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY}

    def by_api() -> None:
        answer = api.post(f"/api/mailboxes/{dana}/test-and-enable", headers=RESPOND_ASYNC)
        assert answer.status_code == 202, answer.text

    def by_console() -> None:
        done = console.post(
            "/mailboxes/test-enable",
            data={"mailbox_id": dana, "back": "record"},
            follow_redirects=False,
        )
        assert done.headers["location"].endswith("done=test-queued-one")

    def by_cli() -> None:
        result = CliRunner().invoke(
            cli, ["admin", "test-enable", "--queue", "dana@northwind.example"], env=env
        )
        assert result.exit_code == 0, result.output
        assert "[1/1] dana@northwind.example: queued" in result.output

    def mailbox() -> dict[str, object]:
        shown: dict[str, object] = api.get(f"/api/mailboxes/{dana}").json()
        return shown

    site.start(1)
    for ask in (by_api, by_console, by_cli):
        site.org.tidings.mailboxes.disable(caller, [dana])
        ask()

        def said(asked_by: str = ask.__name__) -> str:
            return f"{asked_by}: the test run (worker said:\n{site.tails()})"

        wait_until(lambda: mailbox()["test_scheduled"] is False, PATIENCE, said)
        tested = mailbox()
        assert (tested["enabled"], tested["incoming_status"], tested["outgoing_status"]) == (
            True,
            "success",
            "success",
        ), ask.__name__
        alerts = tested["alerts"]
        assert isinstance(alerts, list)
        assert alerts[-1]["text"] == "Test & Enable passed: enabled"


def _subject(content: bytes) -> str:
    for line in content.decode(errors="replace").splitlines():
        if line.startswith("Subject: "):
            return line.removeprefix("Subject: ")
    return ""
