"""What sync records for others to read: HIGHESTMODSEQ in the cursor, and each mailbox's
mode, last sync, backlog, first-sync progress and alerts, shown by the API and the CLI."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import event
from typer.testing import CliRunner

from tests.builders import ManualClock, Org, dovecot_pop3_profile, make_email
from tests.conftest import TEST_SECRET_KEY
from tests.integration.sync_run import SyncRun, opener, service_for
from tests.servers.dovecot import DovecotServer
from tests.waiting import wait_until
from tidings.domain.sync import WORKER_SILENT_AFTER, SyncMode
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.cli.main import app
from tidings.services.queries import QueryService
from tidings.services.sync import SyncService
from tidings.services.sync.model import Ingested, SyncEvent


async def _get(org: Org, path: str, auth: tuple[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(org.tidings))
    async with httpx.AsyncClient(transport=transport, base_url="http://tidings") as client:
        return await client.get(path, auth=auth)


def _highest_modseq(server: DovecotServer, address: str) -> int:
    output = server.doveadm(
        "-f", "flow", "mailbox", "status", "-u", address, "highestmodseq", "INBOX"
    )
    return int(output.rsplit("=", 1)[1])


def _stored_modseq(org: Org) -> int | None:
    with org.tidings.uow() as uow:
        cursor = uow.cursors.get(org.mailboxes["dana"], "INBOX")
    return None if cursor is None else cursor.highest_modseq


def _catch_up_once(service: SyncService, address: str) -> int:
    """One connection: SELECT, then the catch-up sync does right after it."""
    [target] = [t for t in service.targets() if t.address == address]

    async def once() -> int:
        session = await opener()(target.profile, target.credential, "INBOX")
        try:
            return await service.catch_up(target, session, after_select=True)
        finally:
            await session.close()

    return asyncio.run(once())


def test_the_cursor_keeps_highestmodseq_and_an_unchanged_folder_is_not_searched(
    sync_org: tuple[Org, SyncRun], server: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    # Dovecot offers CONDSTORE: SELECT's HIGHESTMODSEQ is stored once the catch-up commits,
    # and a reconnect that finds the same value skips the search altogether.
    org, run = sync_org
    address = "dana@northwind.example"
    for n in (1, 2):
        server.deliver(address, make_email(subject=f"M{n}", message_id=f"<m{n}@c.example>"))
    service = service_for(run)
    assert _catch_up_once(service, address) == 2
    with org.tidings.uow() as uow:
        cursor = uow.cursors.get(org.mailboxes["dana"], "INBOX")
    assert (cursor.last_uid, cursor.highest_modseq) == (2, _highest_modseq(server, address))
    with caplog.at_level(logging.DEBUG, logger="tidings.services.sync"):
        assert _catch_up_once(service, address) == 0
    assert caplog.messages == [
        f"{address}/INBOX unchanged since HIGHESTMODSEQ {cursor.highest_modseq}: nothing to fetch"
    ]
    caplog.clear()
    server.deliver(address, make_email(subject="M3", message_id="<m3@c.example>"))
    with caplog.at_level(logging.DEBUG, logger="tidings.services.sync"):
        assert _catch_up_once(service, address) == 1
    assert caplog.messages == []
    with org.tidings.uow() as uow:
        cursor = uow.cursors.get(org.mailboxes["dana"], "INBOX")
    assert (cursor.last_uid, cursor.highest_modseq) == (3, _highest_modseq(server, address))


def test_a_first_sync_records_its_progress_as_each_chunk_commits(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Readers see "done of total" while the first sync runs, and nothing once it is over.
    org, run = sync_org
    address = "dana@northwind.example"
    for n in range(5):
        server.deliver(address, make_email(subject=f"P{n}", message_id=f"<p{n}@c.example>"))
    seen: list[tuple[int, int] | None] = []

    def listen(event: SyncEvent) -> None:
        if isinstance(event, Ingested):
            seen.append(org.tidings.queries.sync_state()[org.mailboxes["dana"]].first_sync)

    service = service_for(run, chunk=2, listener=listen)
    service.status.beat("this-test", org.tidings.clock.now())  # as a running worker does
    assert _catch_up_once(service, address) == 5
    assert seen == [(2, 5), (4, 5), None]
    sync = org.tidings.queries.sync_state()[org.mailboxes["dana"]]
    assert (sync.mode, sync.backlog, sync.last_sync is not None) == (SyncMode.IDLE, 0, True)


def test_the_api_shows_each_mailboxs_sync_idle_or_polling_with_its_alerts(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # dana is pushed by IDLE; sam, on POP3, is polled; a wrong password shows as an alert.
    org, run = sync_org
    pop3 = dovecot_pop3_profile(server)
    org.add_user("support")
    org.use_profile(pop3, {"sam": "sam-pass", "support": "wrong"})
    for address in ("dana@northwind.example", "sam@northwind.example"):
        server.deliver(address, make_email(to=address, subject="Hi", message_id=f"<{address}>"))
    run.start(service_for(run, max_permanent_failures=1, read_back_seconds=0.2))
    run.wait_for(lambda: len(run.results) == 2 and len(run.alerts) == 1)
    # The tracked category written on dana's email is read back after a quiet moment,
    # which brings the stored HIGHESTMODSEQ up to the server's.
    wait_until(
        lambda: _stored_modseq(org) == _highest_modseq(server, "dana@northwind.example"),
        20,
        "the category read back",
    )
    org.tidings.setup.add_user("Ada Admin", "ada@northwind.example", ["admin"], "ada-pass")
    response = asyncio.run(_get(org, "/api/mailboxes", ("ada@northwind.example", "ada-pass")))
    assert response.status_code == 200
    by_address = {m["address"]: m for m in response.json()}
    dana, sam = by_address["dana@northwind.example"], by_address["sam@northwind.example"]
    support = by_address["support@northwind.example"]
    assert (dana["sync_mode"], dana["backlog"], dana["first_sync"]) == ("idle", 0, None)
    assert (sam["sync_mode"], sam["backlog"]) == ("polling", 0)
    assert dana["last_sync"] is not None and sam["last_sync"] is not None
    [inbox] = dana["folders"]
    assert (inbox["folder"], inbox["mode"], inbox["last_uid"]) == ("INBOX", "idle", 1)
    assert inbox["highest_modseq"] == _highest_modseq(server, "dana@northwind.example")
    failure = "authentication failed: check the user name and password on the mailbox"
    assert (support["sync_mode"], support["enabled"]) == ("disabled", False)
    assert support["folders"][0]["last_error"] == failure
    assert support["alerts"][0]["text"] == failure
    env = {
        "TIDINGS_DATABASE_URL": str(org.tidings.settings.database_url),
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
        "COLUMNS": "250",
    }
    listing = CliRunner().invoke(app, ["admin", "mailboxes"], env=env)
    assert listing.exit_code == 0, listing.output
    rows = {line.split()[1]: line for line in listing.output.splitlines() if "@" in line}
    assert " idle " in rows["dana@northwind.example"]
    assert " polling " in rows["sam@northwind.example"]
    assert " disabled " in rows["support@northwind.example"]
    # Once the worker stops, nothing it said of a folder holds any more.
    run.stop()
    response = asyncio.run(_get(org, "/api/mailboxes", ("ada@northwind.example", "ada-pass")))
    modes = {m["address"]: (m["sync_mode"], m["folders"][0]["mode"]) for m in response.json()}
    assert modes == {
        "dana@northwind.example": ("stopped", "stopped"),
        "sam@northwind.example": ("stopped", "stopped"),
        "support@northwind.example": ("disabled", "stopped"),
    }


def test_a_worker_that_died_without_a_word_shows_as_stopped_after_a_minute(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    org, run = sync_org
    server.deliver("dana@northwind.example", make_email(subject="Hi"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    dana = org.mailboxes["dana"]
    state = org.tidings.queries.mailbox_sync_state(dana)
    assert state is not None and state.mode is SyncMode.IDLE
    # A kill -9 leaves the last sign of life behind: seen a minute ago is not running.
    # The run beats on meanwhile, by the shared clock that moves a second at each reading,
    # so "a minute later" is taken from a few minutes on.
    clock = ManualClock(org.tidings.clock.now() + WORKER_SILENT_AFTER + timedelta(minutes=5))
    late = QueryService(org.tidings.uow, clock)
    stale = late.mailbox_sync_state(dana)
    assert stale is not None and stale.mode is SyncMode.STOPPED
    assert [f.mode for f in stale.folders] == [SyncMode.STOPPED]
    assert not late.dashboard(clock.now()).worker_running
    assert org.tidings.queries.dashboard(org.tidings.clock.now()).worker_running
    run.stop()


def test_a_folder_reads_its_cursor_from_storage_once_per_connection(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # The folder's task alone writes its cursor: each round (five reads of it for one
    # pushed email) takes it from memory, and only a new connection reads storage again.
    org, run = sync_org
    reads: list[object] = []
    dana = org.mailboxes["dana"]

    def count(
        _conn: object, _cursor: object, statement: str, parameters: object, *_: object
    ) -> None:
        cursor_read = statement.lstrip().startswith("SELECT") and "FROM folder_cursors" in statement
        # SQLite's driver takes a tuple of values, psycopg a dict of named ones.
        values = parameters.values() if isinstance(parameters, dict) else parameters
        if cursor_read and dana in tuple(values):  # type: ignore[arg-type]
            reads.append(parameters)

    event.listen(org.tidings.engine, "before_cursor_execute", count)
    run.start(service_for(run, refresh_seconds=3600))
    run.wait_for(lambda: run.service.modes.get((dana, "INBOX")) == SyncMode.IDLE)
    for n in (1, 2):
        server.deliver(
            "dana@northwind.example", make_email(subject=f"P{n}", message_id=f"<p{n}@c.example>")
        )
        run.wait_for(lambda n=n: len(run.results) == n)  # type: ignore[misc]
    assert len(reads) == 1, reads
