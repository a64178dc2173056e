"""Any number of ``tidings worker`` processes share the mailboxes of one PostgreSQL database:
they spread them evenly, a killed worker's mailboxes move to the others within the takeover
bound, and a stopped one hands its mailboxes back at once and leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from tests.api_client import admin_client
from tests.builders import Org, dovecot_profile, make_email
from tests.conftest import TEST_SECRET_KEY, settings_for
from tests.e2e.descendants import descendants, is_alive
from tests.e2e.processes import TIDINGS
from tests.servers.dovecot import DovecotServer
from tests.waiting import wait_until
from tidings.bootstrap import bootstrap
from tidings.domain.stored import ActivityFilter
from tidings.entrypoints.cli.main import app

POSTGRES = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

NAMES = ("dana", "sam", "support", "lee", "kim", "ola")
USERS = {f"{name}@northwind.example": f"{name}-pass" for name in NAMES}
#: Short, so that a killed worker's mailboxes move within a test.
TAKEOVER = 6
#: Long: a mailbox that moves within a test was handed back, not taken over.
NEVER = 3600


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DovecotServer]:
    with DovecotServer(tmp_path / "dovecot", USERS) as running:
        yield running


@pytest.fixture
def org(database_url: str, server: DovecotServer) -> Iterator[Org]:
    """Six enabled mailboxes on the test Dovecot, polled hourly: only IDLE brings mail."""
    tidings = bootstrap(settings_for(database_url))
    organization = Org.create(tidings)
    for name in NAMES[1:]:
        organization.add_user(name)
    organization.use_profile(dovecot_profile(server), {n: f"{n}-pass" for n in NAMES})
    try:
        yield organization
    finally:
        tidings.close()


@dataclass
class Workers:
    """``tidings worker`` processes on one database, and who holds what."""

    org: Org
    database_url: str
    directory: Path
    stack: ExitStack
    processes: list[subprocess.Popen[Any]] = field(default_factory=list)

    def start(self, takeover: float, parse_workers: int = 0) -> subprocess.Popen[Any]:
        env = {
            **os.environ,
            "TIDINGS_DATABASE_URL": self.database_url,
            "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
            "TIDINGS_PARSE_WORKERS": str(parse_workers),
            # Parse processes, if any, from the start: otherwise only with the first email.
            "TIDINGS_PARSE_IDLE_SECONDS": "0",
            "TIDINGS_TAKEOVER_SECONDS": str(takeover),
        }
        log = self.stack.enter_context(
            (self.directory / f"worker-{len(self.processes)}.log").open("w")
        )
        process = subprocess.Popen(
            [TIDINGS, "worker"],
            env=env,
            cwd=self.directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.stack.callback(_end, process)
        self.processes.append(process)
        return process

    def holders(self) -> dict[int, str | None]:
        state = self.org.tidings.queries.sync_state()
        return {
            mailbox_id: (sync.held_by.worker if sync.held_by else None)
            for mailbox_id, sync in state.items()
        }

    def pid_holding(self) -> dict[int, int | None]:
        """Each mailbox's holder by process id; None while no worker holds it."""
        return {
            mailbox_id: (int(worker.rsplit(":", 1)[1]) if worker else None)
            for mailbox_id, worker in self.holders().items()
        }

    def wait_for(self, condition: Any, what: str, timeout: float = 90) -> None:
        def logs() -> str:
            return "\n".join(
                f"--- worker {i}:\n" + (self.directory / f"worker-{i}.log").read_text()[-3000:]
                for i in range(len(self.processes))
            )

        try:
            wait_until(condition, timeout=timeout, what=what)
        except AssertionError as error:
            raise AssertionError(f"{error}; holders {self.pid_holding()}\n{logs()}") from None

    def spread(self) -> Counter[int | None]:
        """How many mailboxes each worker holds, by process id."""
        return Counter(self.pid_holding().values())


def _end(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait(timeout=30)


@pytest.fixture
def workers(org: Org, database_url: str, tmp_path: Path) -> Iterator[Workers]:
    with ExitStack() as stack:
        yield Workers(org, database_url, tmp_path, stack)


def _evenly(workers: Workers, pids: list[int]) -> bool:
    counts = workers.spread()
    return all(counts[pid] == len(NAMES) // len(pids) for pid in pids)


def _subjects(org: Org) -> list[str]:
    return [a.subject for a in org.tidings.queries.activities(ActivityFilter(limit=500)).items]


@POSTGRES
def test_two_workers_spread_the_mailboxes_and_a_killed_ones_move_to_the_survivor(
    workers: Workers, server: DovecotServer
) -> None:
    first = workers.start(TAKEOVER)
    workers.wait_for(
        lambda: set(workers.pid_holding().values()) == {first.pid}, "the first worker holding all"
    )
    second = workers.start(TAKEOVER)
    workers.wait_for(lambda: _evenly(workers, [first.pid, second.pid]), "three mailboxes each")

    killed = [m for m, pid in workers.pid_holding().items() if pid == second.pid]
    second.send_signal(signal.SIGKILL)
    second.wait(timeout=30)
    workers.wait_for(
        lambda: set(workers.pid_holding().values()) == {first.pid},
        "the survivor holding every mailbox",
    )

    # Mail to a mailbox the killed worker held is tracked once, by the survivor.
    names = {mailbox_id: name for name, mailbox_id in workers.org.mailboxes.items()}
    address = f"{names[killed[0]]}@northwind.example"
    server.deliver(address, make_email(to=address, subject="After", message_id="<after@c>"))
    workers.wait_for(lambda: "After" in _subjects(workers.org), "the email tracked")
    server.deliver(address, make_email(to=address, subject="Later", message_id="<later@c>"))
    workers.wait_for(lambda: "Later" in _subjects(workers.org), "the next email tracked")
    assert Counter(_subjects(workers.org))["After"] == 1


@POSTGRES
def test_a_stopped_worker_hands_its_mailboxes_back_at_once_and_leaves_no_process_behind(
    workers: Workers,
) -> None:
    # With takeover an hour away, a mailbox moves within the test only if it is handed back.
    first = workers.start(NEVER)
    workers.wait_for(
        lambda: set(workers.pid_holding().values()) == {first.pid}, "the first worker holding all"
    )
    second = workers.start(NEVER, parse_workers=2)
    workers.wait_for(lambda: _evenly(workers, [first.pid, second.pid]), "three mailboxes each")
    workers.wait_for(lambda: len(descendants(second.pid)) >= 4, "the parse processes up")
    helpers = descendants(second.pid)

    second.send_signal(signal.SIGTERM)
    workers.wait_for(
        lambda: set(workers.pid_holding().values()) == {first.pid},
        "the other worker holding every mailbox",
    )
    assert second.wait(timeout=60) == 0
    wait_until(
        lambda: not any(is_alive(pid) for pid in helpers),
        timeout=60,
        what=f"processes {sorted(helpers)} exiting with their worker",
    )


@POSTGRES
def test_the_cli_and_the_api_name_the_worker_holding_each_mailbox(
    workers: Workers, database_url: str
) -> None:
    worker = workers.start(TAKEOVER)
    workers.wait_for(
        lambda: set(workers.pid_holding().values()) == {worker.pid}, "the worker holding all"
    )
    env = {
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
        "COLUMNS": "300",
    }
    listing = CliRunner().invoke(app, ["admin", "mailboxes"], env=env)
    assert listing.exit_code == 0, listing.output
    rows = [line for line in listing.output.splitlines() if "@northwind.example" in line]
    assert len(rows) == len(NAMES)
    assert all(f":{worker.pid} since " in row for row in rows), listing.output

    client = admin_client(workers.org)
    listed = client.get("/api/mailboxes").json()
    held = {m["address"]: m["held_by"] for m in listed}
    assert {h["worker"].rsplit(":", 1)[1] for h in held.values()} == {str(worker.pid)}
    assert all(h["since"] for h in held.values())


def test_on_sqlite_the_one_worker_is_named_for_every_mailbox_that_syncs(
    sqlite_url: str, tmp_path: Path
) -> None:
    tidings = bootstrap(settings_for(sqlite_url))
    org = Org.create(tidings)
    org.add_user("off", enabled=False)
    workers = Workers(org, sqlite_url, tmp_path, ExitStack())
    with workers.stack:
        worker = workers.start(TAKEOVER)
        workers.wait_for(
            lambda: workers.pid_holding()[org.mailboxes["dana"]] == worker.pid,
            "the worker named for dana's mailbox",
        )
        assert workers.pid_holding()[org.mailboxes["off"]] is None
    tidings.close()


def _plain(database_url: str) -> str:
    """The database's address for psycopg itself."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def _queue_rows(database_url: str) -> list[tuple[str, str, int | None]]:
    """The task queue's jobs: task, status and mailbox."""
    with psycopg.connect(_plain(database_url)) as conn:
        rows = conn.execute(
            "SELECT task_name, status::text, (args->>'mailbox_id')::int FROM procrastinate_jobs"
        ).fetchall()
    return [(task, status, mailbox) for task, status, mailbox in rows]


@POSTGRES
def test_a_disabled_mailbox_is_let_go_and_held_again_once_enabled(
    workers: Workers, database_url: str
) -> None:
    worker = workers.start(TAKEOVER)
    workers.wait_for(
        lambda: set(workers.pid_holding().values()) == {worker.pid}, "the worker holding all"
    )
    ola = workers.org.mailboxes["ola"]

    def set_enabled(enabled: bool) -> None:
        with workers.org.tidings.uow() as uow:
            mailbox = uow.mailboxes.get(ola)
            assert mailbox is not None
            mailbox.enabled = enabled
            uow.mailboxes.save(mailbox)
            uow.commit()

    set_enabled(False)
    workers.wait_for(lambda: workers.pid_holding()[ola] is None, "ola's mailbox let go")
    workers.wait_for(
        lambda: not [row for row in _queue_rows(database_url) if row[2] == ola],
        "no hold job left for ola's mailbox",
    )
    assert workers.spread()[worker.pid] == len(NAMES) - 1

    set_enabled(True)
    workers.wait_for(lambda: workers.pid_holding()[ola] == worker.pid, "ola's mailbox held again")
    # Finished jobs (hand-backs, dispatches, looks for stalled jobs) leave no rows behind.
    assert not [row for row in _queue_rows(database_url) if row[1] == "succeeded"]
    holds = [row for row in _queue_rows(database_url) if row[0] == "hold_mailbox"]
    assert sorted(mailbox for *_, mailbox in holds) == sorted(workers.org.mailboxes.values())


@POSTGRES
def test_a_worker_paused_past_the_takeover_lets_go_of_what_was_taken_and_takes_its_share_again(
    workers: Workers,
) -> None:
    # A paused worker (a frozen VM, a host cut off from the database) is taken for dead; once
    # it runs again it must not go on syncing the mailboxes the other took over: it lets go,
    # and the two share the mailboxes evenly again.
    first = workers.start(TAKEOVER)
    workers.wait_for(
        lambda: set(workers.pid_holding().values()) == {first.pid}, "the first worker holding all"
    )
    second = workers.start(TAKEOVER)
    workers.wait_for(lambda: _evenly(workers, [first.pid, second.pid]), "three mailboxes each")

    second.send_signal(signal.SIGSTOP)
    try:
        workers.wait_for(
            lambda: set(workers.pid_holding().values()) == {first.pid},
            "the running worker taking over every mailbox",
        )
    finally:
        second.send_signal(signal.SIGCONT)
    workers.wait_for(lambda: _evenly(workers, [first.pid, second.pid]), "three each again")
    assert second.poll() is None


def _registered_workers(database_url: str, silent_for: float = 0) -> int:
    """How many workers the queue lists (with ``silent_for``: of those, how many have sent
    no heartbeat for that many seconds)."""
    with psycopg.connect(_plain(database_url)) as connection:
        row = connection.execute(
            "SELECT count(*) FROM procrastinate_workers"
            " WHERE last_heartbeat <= now() - make_interval(secs => %s)",
            [silent_for],
        ).fetchone()
    assert row is not None
    return int(row[0])


@POSTGRES
def test_a_paused_worker_whose_registration_a_newcomer_pruned_registers_again(
    workers: Workers, database_url: str
) -> None:
    # A worker that starts prunes the workers silent past the takeover bound from the
    # queue's list of workers. One that was only paused (a frozen VM) then wakes to a
    # registration that is gone: it must register again and take its share, not sit idle
    # with jobs it can no longer be given.
    first = workers.start(TAKEOVER)
    workers.wait_for(
        lambda: set(workers.pid_holding().values()) == {first.pid}, "the first worker holding all"
    )
    first.send_signal(signal.SIGSTOP)
    try:
        workers.wait_for(
            lambda: _registered_workers(database_url, silent_for=TAKEOVER) == 1,
            "the paused worker silent past the takeover bound",
        )
        second = workers.start(TAKEOVER)
        workers.wait_for(
            lambda: set(workers.pid_holding().values()) == {second.pid},
            "the newcomer taking over every mailbox",
        )
        assert _registered_workers(database_url) == 1  # the paused one was pruned
    finally:
        first.send_signal(signal.SIGCONT)
    workers.wait_for(lambda: _evenly(workers, [first.pid, second.pid]), "three each again")
    assert _registered_workers(database_url) == 2
    assert first.poll() is None
