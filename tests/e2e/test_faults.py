"""Faults a real deployment meets, met by a real ``tidings worker`` process on PostgreSQL
with a private Dovecot and SMTP server: killed mid-sync, mid-batch and mid-send, its mail
server restarted, its database connections cut, a folder renumbered, one email delivered to
two mailboxes. After each, every delivered email is tracked exactly once (activities counted
by Message-ID), nothing is sent twice (the SMTP server's own record) and nothing is parked.

Each test waits on what the database or the servers say, never on time.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import Org, TickingClock, dovecot_profile, make_email
from tests.conftest import settings_for
from tests.database_locks import HeldTable, hold_writes, slow_inserts
from tests.e2e.worker_process import Ledger, Worker, deliver_all
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import TEST_USERS
from tests.servers.smtp import ReceivedMessage, SmtpServer
from tests.waiting import wait_until
from tidings.bootstrap import bootstrap
from tidings.domain.outgoing import INTERRUPTED_AFTER_HANDOVER
from tidings.domain.people import Caller, Privilege
from tidings.domain.stored import ActivityFilter

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

DANA, SAM = "dana@northwind.example", "sam@northwind.example"
#: The longest any condition is waited for: a worker process starting on a busy machine.
PATIENCE = 120
#: Seconds before a dead worker's mailboxes are taken over, where a test kills one of two.
TAKEOVER = 6
#: Where a test kills its one worker and starts another: the new one takes the dead one's
#: jobs after half of this, rather than half of the default minute.
RESTART_TAKEOVER = 12
#: Seconds each activity's insert is made to take where a test must see part of a first
#: sync committed: a chunk of a hundred then commits two seconds after the one before.
SLOW_INSERT = 0.02


@dataclass
class Site:
    """The organization, its servers, and what its database says."""

    org: Org
    dovecot: DovecotServer
    smtp: SmtpServer
    ledger: Ledger
    worker: Worker

    def wait_tracked(self, message_ids: list[str], timeout: float = PATIENCE) -> None:
        """Until each of these Message-IDs has an activity (once or more)."""
        wait_until(
            lambda: set(message_ids) <= set(self.ledger.tracked()),
            timeout,
            lambda: f"{len(message_ids)} emails tracked (worker said:\n{self.worker.tail()})",
        )

    def assert_once(self, message_ids: list[str]) -> None:
        """Every one of them tracked exactly once, and nothing parked."""
        tracked = self.ledger.tracked()
        assert {m: tracked[m] for m in message_ids} == dict.fromkeys(message_ids, 1)
        assert self.ledger.parked() == 0

    def queue_email(self, subject: str) -> int:
        caller = Caller(self.org.users["dana"], frozenset(Privilege))
        return self.org.tidings.outgoing.queue(
            caller,
            mailbox_id=self.org.mailboxes["dana"],
            to=["maria@contoso.example"],
            subject=subject,
            body="Hello Maria,\n",
        )


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    tidings = bootstrap(settings_for(database_url), TickingClock())
    org = Org.create(tidings)
    org.add_user("sam")
    org.add_user("support")
    dovecot = DovecotServer(tmp_path / "dovecot", TEST_USERS)
    smtp = SmtpServer(TEST_USERS)
    with dovecot, smtp:
        profile = dovecot_profile(dovecot, smtp)
        profile.options = {**profile.options, "save_sent_copy": "no"}
        org.use_profile(
            profile, {"dana": "dana-pass", "sam": "sam-pass", "support": "support-pass"}
        )
        worker = Worker(database_url, tmp_path)
        ledger = Ledger(database_url)
        try:
            yield Site(org, dovecot, smtp, ledger, worker)
        finally:
            worker.kill()  # the test is over: how the worker stops is not what it checks
            ledger.close()
            tidings.close()


def _emails(prefix: str, count: int) -> tuple[list[str], list[bytes]]:
    ids = [f"<{prefix}-{n}@contoso.example>" for n in range(count)]
    raws = [make_email(subject=f"{prefix} {n}", message_id=i) for n, i in enumerate(ids)]
    return ids, raws


def _kill_midway(site: Site, message_ids: list[str]) -> int:
    """kill -9 the worker once some but not all of these are tracked; how many were."""
    wanted = set(message_ids)

    def some_not_all() -> bool:
        return 0 < len(wanted & set(site.ledger.tracked())) < len(wanted)

    def said() -> str:
        tracked = len(wanted & set(site.ledger.tracked()))
        return (
            f"part of the mail tracked ({tracked} of {len(wanted)} were at the end; "
            f"worker said:\n{site.worker.tail()})"
        )

    wait_until(some_not_all, PATIENCE, said)
    site.worker.kill()
    return len(wanted & set(site.ledger.tracked()))


def test_a_worker_killed_during_a_first_sync_leaves_each_email_tracked_once(
    site: Site, database_url: str
) -> None:
    # The first sync of a mailbox holding a few hundred emails commits a chunk at a time;
    # killed between chunks, the next worker goes on from the cursor, refetching at most a
    # chunk, which the raw store recognises.
    ids, raws = _emails("first", 200)
    deliver_all(site.dovecot, [DANA], raws)
    # The two chunks of a hundred would otherwise commit a fraction of a second apart: on a
    # busy machine the test could miss the moment between them and wait for it in vain.
    slow_inserts(database_url, "email_activities", SLOW_INSERT)
    site.worker.env["TIDINGS_TAKEOVER_SECONDS"] = str(RESTART_TAKEOVER)
    site.worker.start()
    assert _kill_midway(site, ids) < len(ids)
    site.worker.start()
    site.wait_tracked(ids)
    site.assert_once(ids)


def test_a_worker_killed_during_a_batch_leaves_each_email_tracked_once(site: Site) -> None:
    # The worker is caught up and waiting in IDLE when a burst arrives; it dies with part
    # of the burst ingested and part of it fetched or kept but not decided.
    site.dovecot.deliver(DANA, make_email(subject="Ready", message_id="<ready@c.example>"))
    site.worker.env["TIDINGS_TAKEOVER_SECONDS"] = str(RESTART_TAKEOVER)
    site.worker.start()
    site.wait_tracked(["<ready@c.example>"])
    ids, raws = _emails("burst", 150)
    # Killed while the burst is still arriving: a worker that keeps up with the deliveries
    # has tracked all of it by the time the last one is in, and there is no midway left.
    delivering = threading.Thread(target=deliver_all, args=(site.dovecot, [DANA], raws))
    delivering.start()
    try:
        killed_at = _kill_midway(site, ids)
    finally:
        delivering.join()
    assert killed_at < len(ids)
    site.worker.start()
    site.wait_tracked(ids)
    site.assert_once(["<ready@c.example>", *ids])


def test_a_worker_killed_between_the_servers_acceptance_and_its_own_record_sends_nothing_twice(
    site: Site, database_url: str
) -> None:
    # The worker is frozen after the server's 250 (the test holds the outbox against writes
    # from the moment the message arrives), then killed. The next worker sends what comes
    # next and, once the dead worker's send task is taken over (its heartbeat stopped), that
    # task finds the email handed over: it fails it as interrupted, never sending it again.
    site.worker.env["TIDINGS_TAKEOVER_SECONDS"] = str(RESTART_TAKEOVER)
    site.worker.start()
    held: list[HeldTable] = []
    site.smtp.before_accept = lambda _message: held.append(hold_writes(database_url, "outbox"))
    first = site.queue_email("Quote")
    try:
        site.smtp.wait_for(1, timeout=120)
        assert held, "the outbox was not held when the server accepted"
        site.worker.kill()
    finally:
        site.smtp.before_accept = None
        for hold in held:
            hold.release()
    site.worker.start()
    second = site.queue_email("Follow-up")
    wait_until(
        lambda: site.ledger.outbox().get(second, ("",))[0] == "sent",
        PATIENCE,
        lambda: f"the follow-up sent (worker said:\n{site.worker.tail()})",
    )
    wait_until(
        lambda: site.ledger.outbox()[first][0] == "failed",
        PATIENCE,
        lambda: f"the interrupted email failed over (worker said:\n{site.worker.tail()})",
    )
    assert site.ledger.outbox()[first] == ("failed", INTERRUPTED_AFTER_HANDOVER)
    subjects = [_subject(m) for m in site.smtp.messages]
    assert len(subjects) == 2 and subjects[0].startswith("Quote")
    assert subjects[1].startswith("Follow-up")


def _subject(message: ReceivedMessage) -> str:
    for line in message.content.decode(errors="replace").splitlines():
        if line.startswith("Subject: "):
            return line.removeprefix("Subject: ")
    return ""


def test_dovecot_restarted_under_a_running_worker_loses_and_repeats_nothing(site: Site) -> None:
    # The IDLE connection drops; the worker backs off, reconnects and catches up what was
    # delivered while it was away, then is pushed what comes after.
    site.dovecot.deliver(DANA, make_email(subject="Before", message_id="<before@c.example>"))
    site.worker.start()
    site.wait_tracked(["<before@c.example>"])
    site.dovecot.stop()
    site.dovecot.start()
    site.dovecot.deliver(DANA, make_email(subject="During", message_id="<during@c.example>"))
    site.wait_tracked(["<during@c.example>"])
    site.dovecot.deliver(DANA, make_email(subject="After", message_id="<after@c.example>"))
    site.wait_tracked(["<after@c.example>"])
    site.assert_once(["<before@c.example>", "<during@c.example>", "<after@c.example>"])


def test_the_workers_database_connections_terminated_sync_and_sending_carry_on(
    site: Site,
) -> None:
    # Every connection the worker holds is ended by the server (a failover, an operator's
    # pg_terminate_backend); its next statements connect again.
    site.dovecot.deliver(DANA, make_email(subject="One", message_id="<one@c.example>"))
    site.worker.start()
    site.wait_tracked(["<one@c.example>"])
    assert site.ledger.terminate_others() >= 1
    site.dovecot.deliver(DANA, make_email(subject="Two", message_id="<two@c.example>"))
    sent = site.queue_email("After the cut")
    site.wait_tracked(["<two@c.example>"])
    wait_until(
        lambda: site.ledger.outbox()[sent][0] == "sent",
        PATIENCE,
        lambda: f"the email sent (worker said:\n{site.worker.tail()})",
    )
    assert len(site.smtp.messages) == 1
    site.assert_once(["<one@c.example>", "<two@c.example>"])


def test_a_folder_renumbered_under_a_running_worker_duplicates_nothing(site: Site) -> None:
    # A new UIDVALIDITY (a restored server) makes the worker read the folder again from
    # the start once it selects it again: what it tracked is recognised, new email tracked.
    ids, raws = _emails("kept", 3)
    deliver_all(site.dovecot, [DANA], raws)
    site.worker.start()
    site.wait_tracked(ids)
    renumbered = site.dovecot.uidvalidity(DANA, "INBOX") + 1000
    site.dovecot.doveadm(
        "mailbox", "update", "-u", DANA, "--uid-validity", str(renumbered), "INBOX"
    )  # fmt: skip
    site.dovecot.deliver(DANA, make_email(subject="New", message_id="<new@c.example>"))
    site.wait_tracked(["<new@c.example>"])
    # However the open session saw it, the next connection selects the folder afresh.
    site.dovecot.restart()
    wait_until(
        lambda: site.ledger.uidvalidity(site.org.mailboxes["dana"], "INBOX") == renumbered,
        PATIENCE,
        lambda: (
            f"the folder read again under its new UIDVALIDITY (worker said:\n{site.worker.tail()})"
        ),
    )
    site.assert_once([*ids, "<new@c.example>"])


def test_one_email_to_two_users_is_one_activity_unless_the_organization_asks_for_two(
    site: Site,
) -> None:
    # From a customer: one activity, both users among its parties. From a user, with the
    # organization tracking email between users as two activities: one for each recipient.
    site.worker.start()
    customer = make_email(to=[DANA, SAM], subject="To both", message_id="<both@c.example>")
    deliver_all(site.dovecot, [DANA, SAM], [customer])
    site.wait_tracked(["<both@c.example>"])
    site.org.configure(track_between_users_as_two_activities=True)
    internal = make_email(
        sender="support@northwind.example",
        to=[DANA, SAM],
        subject="Between users",
        message_id="<internal@c.example>",
    )
    deliver_all(site.dovecot, [DANA, SAM], [internal])
    wait_until(
        lambda: site.ledger.tracked()["<internal@c.example>"] == 2,
        PATIENCE,
        lambda: f"two activities of the email between users (worker said:\n{site.worker.tail()})",
    )
    # Both copies of the customer's email were decided by now (the worker takes each
    # mailbox's mail in order): still one activity.
    assert site.ledger.tracked()["<both@c.example>"] == 1
    assert site.ledger.parked() == 0
    queries = site.org.tidings.queries
    [both] = [a for a in queries.activities(ActivityFilter()).items if a.subject == "To both"]
    parties = {p.address for p in queries.activity(both.id).activity.parties}
    assert {DANA, SAM} <= parties


def test_one_email_to_two_mailboxes_held_by_different_workers_is_tracked_once_and_survives_a_kill(
    site: Site, tmp_path: Path
) -> None:
    # Two workers, two mailboxes: a fair share of one each, so Dana's and Sam's copies of one
    # email are decided by different processes at about the same time.
    with site.org.tidings.uow() as uow:
        support = uow.mailboxes.get(site.org.mailboxes["support"])
        assert support is not None
        support.enabled = False
        uow.mailboxes.save(support)
        uow.commit()
    second_directory = tmp_path / "second"
    second_directory.mkdir()
    second = Worker(site.worker.env["TIDINGS_DATABASE_URL"], second_directory)
    for worker in (site.worker, second):
        worker.env["TIDINGS_TAKEOVER_SECONDS"] = str(TAKEOVER)
    dana, sam = site.org.mailboxes["dana"], site.org.mailboxes["sam"]

    def holders() -> dict[int, str | None]:
        state = site.org.tidings.queries.sync_state()
        return {m: (state[m].held_by.worker if state[m].held_by else None) for m in (dana, sam)}

    def passed(count: int) -> None:
        """Until both copies of every email are decided: both cursors past the last one
        (the Inboxes were empty, and UIDs count from 1)."""
        wait_until(
            lambda: min(site.ledger.last_uid(m, "INBOX") for m in (dana, sam)) >= count,
            PATIENCE,
            f"both mailboxes past email {count}",
        )

    def apart() -> bool:
        held = holders()
        return None not in held.values() and held[dana] != held[sam]

    site.worker.start()
    second.start()
    try:
        wait_until(apart, PATIENCE, f"each worker holding one mailbox (holders {holders()})")
        ids, raws = _emails("both", 40)
        deliver_all(site.dovecot, [DANA, SAM], raws)
        site.wait_tracked(ids)
        passed(len(ids))
        site.assert_once(ids)
        # One worker dies: the other takes its mailbox over and tracks what comes after.
        held = holders()
        site.worker.kill()
        survivor = next(h for h in held.values() if h and h.endswith(f":{second.pid}"))
        wait_until(
            lambda: set(holders().values()) == {survivor},
            PATIENCE,
            f"the survivor holding both mailboxes (holders {holders()})",
        )
        later_ids, later = _emails("later", 20)
        deliver_all(site.dovecot, [DANA, SAM], later)
        site.wait_tracked(later_ids)
        passed(len(ids) + len(later_ids))
        site.assert_once([*ids, *later_ids])
    finally:
        second.kill()
