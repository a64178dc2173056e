"""The raw store under a real Dovecot sync, on both databases: a changed UIDVALIDITY does
not copy it, and bytes that are not an email park without holding up their folder."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.builders import Org, TickingClock, dovecot_profile, make_email
from tests.conftest import settings_for
from tests.integration.sync_run import SyncRun, service_for
from tests.servers.dovecot import DovecotServer
from tidings.adapters.storage import tables
from tidings.bootstrap import bootstrap
from tidings.domain.tracking import Outcome

DANA = "dana@northwind.example"


@pytest.fixture
def synced(server: DovecotServer, database_url: str) -> Iterator[tuple[Org, SyncRun]]:
    """An organization syncing Dana's mailbox on the test Dovecot, in each database."""
    holder: dict[str, SyncRun] = {}
    tidings = bootstrap(
        settings_for(database_url),
        TickingClock(datetime.now(UTC)),
        listener=lambda e: holder["run"].listen(e),
    )
    holder["run"] = run = SyncRun(tidings)
    org = Org.create(tidings)
    org.use_profile(dovecot_profile(server), {"dana": "dana-pass"})
    yield org, run
    holder["run"].stop()
    tidings.close()


def _count(org: Org, table: Any) -> int:
    with org.tidings.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_a_changed_uidvalidity_rescans_the_folder_without_a_second_copy_of_its_raw_bytes(
    synced: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Dovecot renumbers the Inbox (a new UIDVALIDITY): the rescan finds every email's bytes
    # kept by content and Message-ID and records only where they are now.
    org, run = synced
    for number in range(3):
        server.deliver(DANA, make_email(subject=f"Seats {number}", message_id=f"<s{number}@c>"))
    server.deliver(
        DANA,
        make_email(
            subject="Out of office",
            message_id="<ooo@c>",
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 4)
    first = {r.raw_message_id: r for r in run.results}
    assert sorted(r.outcome.value for r in first.values()) == [
        "not_tracked",
        "tracked",
        "tracked",
        "tracked",
    ]
    raw_before, activities_before = (
        _count(org, tables.raw_messages),
        _count(org, tables.email_activities),
    )
    old = server.uidvalidity(DANA, "INBOX")

    run.stop()
    server.doveadm("mailbox", "update", "-u", DANA, "--uid-validity", str(old + 1000), "INBOX")
    assert server.uidvalidity(DANA, "INBOX") == old + 1000
    server.deliver(DANA, make_email(subject="After the change", message_id="<after@c>"))
    again = SyncRun(org.tidings)
    again.start(service_for(again))
    again.wait_for(lambda: len(again.results) == 5)
    again.stop()

    repeated = [r for r in again.results if r.repeated]
    assert len(repeated) == 4
    for result in repeated:  # each is its first result, with the same bytes and activity
        seen = first[result.raw_message_id]
        assert (result.outcome, result.activity_id) == (seen.outcome, seen.activity_id)
    (new,) = [r for r in again.results if not r.repeated]
    assert new.outcome is Outcome.TRACKED
    assert _count(org, tables.raw_messages) == raw_before + 1
    assert _count(org, tables.email_activities) == activities_before + 1
    assert _count(org, tables.raw_message_origins) == 4
    with org.tidings.uow() as uow:
        origins = uow.raw_messages.origins_of(repeated[0].raw_message_id)
    assert [o.uidvalidity for o in origins] == [old, old + 1000]
    [inbox] = org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders
    assert inbox.cursor is not None and inbox.cursor.uidvalidity == old + 1000


def test_a_folder_deleted_and_filled_again_keeps_one_copy_of_each_email(
    synced: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # A folder recreated (new UIDVALIDITY) with the same email saved into it again: one raw
    # copy, one activity; another copy in the same folder is one more origin, not more bytes.
    org, run = synced
    org.add_folder_rule("dana", "Projects")
    raw = make_email(subject="Plan", message_id="<plan@c>")
    server.deliver(DANA, raw, folder="Projects")
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    run.stop()

    server.delete_folder(DANA, "Projects")
    server.deliver(DANA, raw, folder="Projects")
    server.deliver(DANA, raw, folder="Projects")  # a copy beside it: same bytes, new UID
    again = SyncRun(org.tidings)
    again.start(service_for(again))
    again.wait_for(lambda: len(again.results) == 2)
    again.stop()

    assert [(r.outcome, r.repeated) for r in again.results] == [(Outcome.TRACKED, True)] * 2
    assert {r.activity_id for r in again.results} == {run.results[0].activity_id}
    assert _count(org, tables.raw_messages) == 1
    assert _count(org, tables.raw_message_origins) == 2
    assert _count(org, tables.email_activities) == 1


def test_synced_bytes_that_are_not_an_email_park_and_the_folder_goes_on(
    synced: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Junk saved into a tracked folder parks with the reason; the email around it is
    # tracked and the cursor moves past it, so mail arriving later is tracked too.
    org, run = synced
    org.add_folder_rule("dana", "Projects")
    # IMAP hands every line end back as CRLF, and Dovecot a NUL as 0x80: the junk has
    # neither bare line ends nor NULs, to compare it whole.
    noise = bytes(b if b not in (0, 10, 13) else 0x80 for b in random.Random(7).randbytes(1500))
    junk = b"\x89PNG\r\n\x1a\r\n" + noise
    body_only = b"Hello Dana,\r\n\r\nno headers here.\r\n"
    server.deliver(DANA, make_email(subject="Before", message_id="<before@c>"), folder="Projects")
    server.deliver(DANA, junk, folder="Projects")
    server.deliver(DANA, body_only, folder="Projects")
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 3)
    server.deliver(DANA, make_email(subject="Later", message_id="<later@c>"), folder="Projects")
    run.wait_for(lambda: len(run.results) == 4)

    assert [r.summary if r.outcome is Outcome.PARKED else r.outcome for r in run.results] == [
        Outcome.TRACKED,
        "parked: no header block",
        "parked: no header block",
        Outcome.TRACKED,
    ]
    with org.tidings.uow() as uow:
        assert uow.raw_messages.require(run.results[1].raw_message_id).raw == junk
    assert sorted(p.error_type for p in org.tidings.queries.parked()) == ["no header block"] * 2


def _until(condition: Callable[[], bool], timeout: float = 20) -> None:
    """Wait until ``condition`` holds, looking again every 50 ms; fail after ``timeout``."""
    woken = threading.Event()
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "never got there"
        woken.wait(0.05)


def test_a_failing_database_stops_the_folder_with_a_one_line_error_and_parks_nothing(
    synced: tuple[Org, SyncRun], server: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    # A table gone (a database not upgraded) is the operator's problem, not the email's: the
    # folder backs off, saying what failed in one line, in its state and in the log, without
    # the statement or its parameters; nothing is parked and the cursor stays.
    org, run = synced
    server.deliver(DANA, make_email(subject="Waits", message_id="<waits@c>"))
    with org.tidings.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE tracking_decisions")
    caplog.set_level(logging.INFO, logger="tidings")
    run.start(service_for(run))

    def last_error() -> str | None:
        folders = org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders
        state = folders[0].state if folders else None
        return state.last_error if state else None

    _until(lambda: last_error() is not None)
    run.stop()

    error = last_error()
    assert error is not None
    assert error.startswith("StorageError: the database failed: ")
    assert "tracking_decisions" in error
    assert "\n" not in error and "[SQL" not in error and "[parameters" not in error
    logged = [r.getMessage() for r in caplog.records if "stopped; retrying" in r.getMessage()]
    assert logged, [r.getMessage() for r in caplog.records]
    assert all("[SQL" not in m and "INSERT" not in m and "SELECT" not in m for m in logged)
    with org.tidings.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.parked_emails)).scalar() == 0
    [inbox] = org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders
    assert inbox.cursor is None or inbox.cursor.last_uid == 0


def test_an_email_the_database_refuses_parks_and_the_rest_of_the_folder_is_tracked(
    synced: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # One email no database stores (its Date is year 10000 in UTC) among others fetched in
    # one chunk: it parks with its error, the others are tracked, and the cursor moves on.
    org, run = synced
    far = make_email(subject="Far", message_id="<far@c>").replace(
        b"Date: Thu, 19 Nov 2026 10:30:00 +0000", b"Date: Fri, 31 Dec 9999 23:59:59 -1400"
    )
    for number in range(5):
        raw = far if number == 2 else make_email(message_id=f"<near-{number}@c>")
        server.deliver(DANA, raw)
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 5)
    server.deliver(DANA, make_email(subject="Next", message_id="<next@c>"))
    run.wait_for(lambda: len(run.results) == 6)

    outcomes = [r.outcome for r in run.results]
    assert outcomes == [Outcome.TRACKED] * 2 + [Outcome.PARKED] + [Outcome.TRACKED] * 3
    assert "date value out of range" in run.results[2].summary
    [inbox] = org.tidings.queries.sync_state()[org.mailboxes["dana"]].folders
    assert inbox.cursor is not None and inbox.cursor.last_uid == 6
