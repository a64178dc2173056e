"""Server-side sync against a real Dovecot: email arriving in a mailbox becomes an activity."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from tests.builders import Org, TickingClock, dovecot_pop3_profile, dovecot_profile, make_email
from tests.conftest import settings_for
from tests.integration.sync_run import SyncRun, opener, service_for
from tests.servers.dovecot import DovecotServer
from tests.waiting import wait_until
from tidings.adapters.secrets import FernetSecretBox
from tidings.adapters.storage import tables
from tidings.bootstrap import bootstrap
from tidings.domain.activity import CorrelationMethod
from tidings.domain.credentials import CredentialKey, CredentialScope, Direction
from tidings.domain.people import Caller, Privilege
from tidings.domain.stored import ActivityFilter
from tidings.domain.sync import FetchedMessage
from tidings.domain.tracking import Outcome


def _subjects(org: Org) -> list[str]:
    page = org.tidings.queries.activities(ActivityFilter(limit=500))
    return sorted(a.subject for a in page.items)


def test_new_mail_in_the_inbox_becomes_an_activity_pushed_by_idle(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Mail already there is caught up; mail arriving later is pushed by IDLE and tracked.
    org, run = sync_org
    server.deliver(
        "dana@northwind.example", make_email(subject="Before", message_id="<b1@c.example>")
    )
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    server.deliver(
        "dana@northwind.example", make_email(subject="After", message_id="<a1@c.example>")
    )
    run.wait_for(lambda: len(run.results) == 2)
    assert _subjects(org) == ["After", "Before"]
    [inbox] = org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders
    assert inbox.cursor is not None
    assert (inbox.folder, inbox.cursor.last_uid, inbox.cursor.synced_at is not None) == (
        "INBOX",
        2,
        True,
    )


def test_mail_in_an_untracked_folder_is_not_read_and_a_rule_brings_its_regarding(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Only the Inbox and folders with a rule are synced; a rule's regarding is applied.
    org, run = sync_org
    server.deliver(
        "dana@northwind.example",
        make_email(subject="Private", message_id="<p@c.example>"),
        folder="Private",
    )
    server.deliver(
        "dana@northwind.example",
        make_email(subject="Deal", message_id="<d@c.example>"),
        folder="Contoso",
    )
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    [activity] = org.tidings.queries.activities(ActivityFilter()).items
    assert (activity.subject, activity.regarding, activity.correlation) == (
        "Deal",
        org.records["deal"],
        CorrelationMethod.FOLDER_RULE,
    )


def test_a_uidvalidity_change_rescans_without_duplicating(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Deleting and recreating a folder renumbers it; the same email is still one activity.
    org, run = sync_org
    org.add_folder_rule("dana", "Projects")
    raw = make_email(subject="Plan", message_id="<plan@c.example>")
    server.deliver("dana@northwind.example", raw, folder="Projects")
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    run.stop()
    server.delete_folder("dana@northwind.example", "Projects")
    server.deliver("dana@northwind.example", raw, folder="Projects")
    server.deliver(
        "dana@northwind.example",
        make_email(subject="Next", message_id="<next@c.example>"),
        folder="Projects",
    )
    again = SyncRun(run.tidings)
    again.start(service_for(again))
    again.wait_for(lambda: len(again.results) == 2)
    again.stop()
    # The same bytes under the new UIDVALIDITY are the email seen before: its first result.
    plan, following = again.results
    assert (plan.outcome, plan.repeated, plan.activity_id) == (
        Outcome.TRACKED,
        True,
        run.results[0].activity_id,
    )
    assert (following.outcome, following.repeated) == (Outcome.TRACKED, False)
    assert _subjects(org) == ["Next", "Plan"]


def test_dovecot_restarted_during_idle_loses_nothing(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # The connection drops; sync reconnects with back-off and catches up what came meanwhile.
    org, run = sync_org
    run.start(service_for(run))
    server.deliver("dana@northwind.example", make_email(subject="One", message_id="<r1@c.example>"))
    run.wait_for(lambda: len(run.results) == 1)
    server.stop()
    server.start()
    server.deliver("dana@northwind.example", make_email(subject="Two", message_id="<r2@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert _subjects(org) == ["One", "Two"]


def test_a_wrong_password_alerts_and_disables_the_mailbox_after_repeated_failures(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Permanent failures raise alerts; after three in a row the mailbox is disabled, saying why.
    org, run = sync_org
    admin = Caller(org.users["dana"], frozenset(Privilege))
    org.tidings.mailboxes.set_credentials(
        admin, org.mailboxes["sam"], "sam@northwind.example", "wrong"
    )
    service = service_for(run)
    run.start(service)

    def disabled() -> bool:
        with org.tidings.uow() as uow:
            return not uow.mailboxes.get(org.mailboxes["sam"]).enabled

    run.wait_for(lambda: any(alert.disabled for alert in run.alerts))
    assert disabled()
    with org.tidings.uow() as uow:
        alerts = [a.text for a in uow.mailboxes.get(org.mailboxes["sam"]).alerts]
    assert (
        alerts.count("authentication failed: check the user name and password on the mailbox") == 3
    )
    assert alerts[-1].startswith("Mailbox disabled after 3 permanent failures in a row")


def test_moving_an_email_into_a_tracked_folder_tracks_it(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # An email filed by hand into a tracked folder is tracked there, with the rule's regarding.
    org, run = sync_org
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    server.deliver(
        "dana@northwind.example",
        make_email(subject="Filed", message_id="<f@c.example>"),
        folder="Archive",
    )
    server.create_folder("dana@northwind.example", "Contoso")
    run.start(service_for(run))
    server.move("dana@northwind.example", 1, "Archive", "Contoso")
    run.wait_for(lambda: len(run.results) == 1)
    [activity] = org.tidings.queries.activities(ActivityFilter()).items
    assert (activity.subject, activity.regarding) == ("Filed", org.records["deal"])


def test_the_first_sync_honours_process_email_received_after(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Mail received before the profile's date is passed over on the first sync, for good.
    org, run = sync_org
    server.deliver(
        "dana@northwind.example", make_email(subject="Old", message_id="<old@c.example>")
    )
    with org.tidings.engine.begin() as connection:
        connection.execute(
            update(tables.server_profiles).values(
                process_email_received_after=datetime.now(UTC) + timedelta(days=1)
            )
        )
    service = service_for(run)
    [target] = [t for t in service.targets() if t.address == "dana@northwind.example"]

    async def catch_up_once() -> int:
        session = await opener()(target.profile, target.credential, "INBOX")
        try:
            return await service.catch_up(target, session)
        finally:
            await session.close()

    assert asyncio.run(catch_up_once()) == 0
    assert asyncio.run(catch_up_once()) == 0  # not a first sync any more: still passed over
    with org.tidings.uow() as uow:
        assert uow.cursors.get(org.mailboxes["dana"], "INBOX").last_uid == 1
    server.deliver(
        "dana@northwind.example", make_email(subject="New", message_id="<new@c.example>")
    )
    assert asyncio.run(catch_up_once()) == 1
    assert _subjects(org) == ["New"]


def test_eight_mailboxes_idle_at_once_and_each_gets_its_mail(
    tmp_path: Path, database_url: str
) -> None:
    # One process, one connection per mailbox, all pushed by IDLE.
    names = [f"user{n}" for n in range(8)]
    users = {f"{name}@northwind.example": f"{name}-pass" for name in names}
    with DovecotServer(tmp_path / "dovecot8", users) as server:
        holder: dict[str, SyncRun] = {}
        tidings = bootstrap(
            settings_for(database_url), TickingClock(), listener=lambda e: holder["run"].listen(e)
        )
        holder["run"] = run = SyncRun(tidings)
        org = Org.create(tidings)
        for name in names:
            org.add_user(name)
        org.use_profile(dovecot_profile(server), {name: f"{name}-pass" for name in names})
        service = service_for(run)
        run.start(service)
        try:
            for name in names:
                server.deliver(
                    f"{name}@northwind.example",
                    make_email(
                        to=f"{name}@northwind.example",
                        subject=name,
                        message_id=f"<{name}@c.example>",
                    ),
                )
            run.wait_for(lambda: len(run.results) == 8)
        finally:
            run.stop()
            tidings.close()
        assert _subjects(org) == sorted(names)


def test_a_pop3_mailbox_is_polled_by_uidl_and_nothing_is_taken_twice(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # POP3 has no push: each poll retrieves the UIDLs the raw store has not seen yet.
    org, run = sync_org
    pop3 = dovecot_pop3_profile(server)
    org.use_profile(pop3, {"sam": "sam-pass"})
    for n in (1, 2):
        server.deliver(
            "sam@northwind.example",
            make_email(
                to="sam@northwind.example", subject=f"Pop {n}", message_id=f"<pop{n}@c.example>"
            ),
        )
    service = service_for(run)
    run.start(service)
    run.wait_for(lambda: len(run.results) == 2)
    server.deliver(
        "sam@northwind.example",
        make_email(to="sam@northwind.example", subject="Pop 3", message_id="<pop3@c.example>"),
    )
    run.wait_for(lambda: len(run.results) == 3)
    assert sorted(s for s in _subjects(org) if s.startswith("Pop")) == ["Pop 1", "Pop 2", "Pop 3"]
    assert service.modes[(org.mailboxes["sam"], "INBOX")] == "polling"


class CountingOpener:
    """The real IMAP opener, counting how many sessions are open at once."""

    def __init__(self) -> None:
        self.open_now = 0
        self.most = 0

    async def __call__(self, profile: object, credential: object, folder: str) -> object:
        session = await opener()(profile, credential, folder)  # type: ignore[arg-type]
        self.open_now += 1
        self.most = max(self.most, self.open_now)
        close = session.close

        async def counted_close() -> None:
            self.open_now -= 1
            await close()

        session.close = counted_close  # type: ignore[method-assign]
        return session


def test_the_profiles_maximum_of_concurrent_connections_holds_and_every_folder_syncs(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Two connections for four folders: one folder keeps its own (IDLE), the other three
    # take the second in turn, and mail in every folder is tracked.
    org, run = sync_org
    with org.tidings.engine.begin() as conn:
        conn.execute(update(tables.server_profiles).values(max_concurrent_connections=2))
    for folder in ("Alpha", "Beta"):
        org.add_folder_rule("dana", folder)
    for name in ("INBOX", "Alpha", "Beta"):
        server.deliver(
            "dana@northwind.example",
            make_email(subject=f"In {name}", message_id=f"<{name}@c.example>"),
            folder=name,
        )
    server.deliver(
        "sam@northwind.example",
        make_email(to="sam@northwind.example", subject="For Sam", message_id="<s@c.example>"),
    )
    counting = CountingOpener()
    run.start(service_for(run, opener=counting, turn_seconds=0.2))
    run.wait_for(lambda: len(run.results) == 4)
    assert _subjects(org) == ["For Sam", "In Alpha", "In Beta", "In INBOX"]
    assert counting.most == 2


def test_a_mailbox_whose_credential_cannot_be_opened_is_left_out_and_alerted_once(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Sam's password was sealed with a key no longer configured (lost, or dropped after a
    # rotation): his mailbox is not synced and says why, once; Dana's syncs as before.
    org, run = sync_org
    key = CredentialKey(CredentialScope.MAILBOX, org.mailboxes["sam"], Direction.INCOMING)
    lost = FernetSecretBox.from_environment(FernetSecretBox.new_key(), Path("unused"))
    with org.tidings.uow() as uow:
        uow.credentials.save(key, "sam", lost.seal("sam-pass"), datetime.now(UTC))
        uow.commit()
    server.deliver("sam@northwind.example", make_email(to="sam@northwind.example"))
    server.deliver("dana@northwind.example", make_email(subject="Dana's", message_id="<d@c>"))
    service = service_for(run)
    refreshes: list[int] = []
    read_targets = service.targets

    def counted_targets(max_age: float = 0.0):  # type: ignore[no-untyped-def]
        refreshes.append(1)
        return read_targets(max_age)

    service.targets = counted_targets  # type: ignore[method-assign]
    run.start(service)
    run.wait_for(lambda: len(run.results) == 1)

    def alerts() -> list[str]:
        with org.tidings.uow() as uow:
            return [a.text for a in uow.mailboxes.get(org.mailboxes["sam"]).alerts]

    wait_until(lambda: len(alerts()) == 1, 20, "sam's alert")
    alerted_at = len(refreshes)
    wait_until(lambda: len(refreshes) >= alerted_at + 5, 20, "five more refreshes")
    run.stop()
    assert alerts() == [
        "Not synced: a stored credential cannot be decrypted with the configured keys; "
        "restore the key it was sealed with or enter the password again."
    ]
    assert _subjects(org) == ["Dana's"]


class FetchRecorder:
    """The real IMAP opener, noting the size of what each FETCH of message bytes brought."""

    def __init__(self) -> None:
        self.fetched: list[list[int]] = []

    async def __call__(self, profile: object, credential: object, folder: str) -> object:
        session = await opener()(profile, credential, folder)  # type: ignore[arg-type]
        fetch = session.fetch

        async def recorded(uids: list[int]) -> list[FetchedMessage]:
            messages: list[FetchedMessage] = await fetch(uids)
            self.fetched.append([len(m.raw) for m in messages])
            return messages

        session.fetch = recorded  # type: ignore[method-assign]
        return session


def test_a_catch_up_holds_a_bounded_number_of_bytes_at_once(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Chunks were a hundred emails whatever their size: a first sync of a folder of scans
    # (a hundred of 20 MB, and the next hundred fetched meanwhile) held 4 GB at once.
    org, run = sync_org
    attachment = bytes(range(256)) * 1200  # about 300 KB, about 410 KB in base64
    for n in range(6):
        raw = make_email(
            subject=f"Scan {n}",
            message_id=f"<scan{n}@c.example>",
            attachments=[(f"scan{n}.pdf", attachment, "application/pdf")],
        )
        server.deliver("dana@northwind.example", raw)
    recorder = FetchRecorder()
    run.start(service_for(run, opener=recorder, chunk_bytes=1_000_000))
    run.wait_for(lambda: len(run.results) == 6, timeout=30)
    assert sorted(s for s in _subjects(org) if s.startswith("Scan")) == [
        f"Scan {n}" for n in range(6)
    ]
    assert all(sum(sizes) <= 1_000_000 for sizes in recorder.fetched), recorder.fetched
    assert sum(len(sizes) for sizes in recorder.fetched) == 6


def test_a_pop3_poll_holds_a_bounded_number_of_bytes_at_once(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # LIST tells each message's size: a poll ingests at most so many bytes at a time.
    org, run = sync_org
    pop3 = dovecot_pop3_profile(server)
    org.use_profile(pop3, {"sam": "sam-pass"})
    attachment = bytes(range(256)) * 1200
    for n in range(6):
        raw = make_email(
            to="sam@northwind.example",
            subject=f"Scan {n}",
            message_id=f"<pscan{n}@c.example>",
            attachments=[(f"scan{n}.pdf", attachment, "application/pdf")],
        )
        server.deliver("sam@northwind.example", raw)
    held: list[int] = []
    ingest_batch = run.tidings.ingest.ingest_batch

    def counted(batch, headers=None):  # type: ignore[no-untyped-def]
        held.append(sum(len(raw) for raw, _ in batch))
        return ingest_batch(batch, headers)

    run.tidings.ingest.ingest_batch = counted  # type: ignore[method-assign]
    run.start(service_for(run, chunk_bytes=1_000_000))
    run.wait_for(lambda: len(run.results) == 6, timeout=30)
    assert sorted(s for s in _subjects(org) if s.startswith("Scan")) == [
        f"Scan {n}" for n in range(6)
    ]
    assert len(held) > 1 and all(size <= 1_000_000 for size in held), held
