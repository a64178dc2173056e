"""A real ``tidings worker`` process on a test's database, and what the database says of
its work: how often each Message-ID was tracked, what was parked, what the outbox holds."""

from __future__ import annotations

import contextlib
import os
import signal
import smtplib
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import psycopg

from tests.conftest import TEST_SECRET_KEY
from tests.database_locks import postgres_conninfo
from tests.e2e.processes import TIDINGS
from tests.servers.dovecot import DovecotServer


class Worker:
    """``tidings worker`` started, stopped and killed as an operator (or a crash) would."""

    def __init__(self, database_url: str, directory: Path) -> None:
        self.env = {
            **os.environ,
            "TIDINGS_DATABASE_URL": database_url,
            "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
            "TIDINGS_PARSE_WORKERS": "0",
            # What it printed reaches the log at once, and a SIGABRT (``said``) writes every
            # thread's stack there.
            "PYTHONUNBUFFERED": "1",
            "PYTHONFAULTHANDLER": "1",
        }
        self.directory = directory
        self.log = directory / "worker.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._process is None, "the worker runs already"
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [TIDINGS, "worker"],
                env=self.env,
                cwd=self.directory,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """kill -9: no handler runs, no transaction ends but by the server noticing."""
        process, self._process = self._process, None
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def tail(self) -> str:
        """The end of its log; for a failing test's message: a worker still running is
        made to write its threads' stacks there, which ends it."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGABRT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        return self.log.read_text(errors="replace")[-6000:] if self.log.exists() else ""


class Ledger:
    """What the database holds, read with a connection of the test's own."""

    def __init__(self, database_url: str) -> None:
        self.conninfo = postgres_conninfo(database_url)
        # One connection, kept: conditions are read many times a second while waiting.
        self._conn: psycopg.Connection[tuple[object, ...]] | None = None

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        if self._conn is None:
            self._conn = psycopg.connect(self.conninfo, autocommit=True)
        return list(self._conn.execute(sql, params))  # type: ignore[arg-type]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def tracked(self) -> Counter[str]:
        """How many email activities each Message-ID has."""
        rows = self._rows("SELECT message_id, count(*) FROM email_activities GROUP BY 1")
        return Counter({str(message_id): int(str(n)) for message_id, n in rows})

    def parked(self) -> int:
        return int(str(self._rows("SELECT count(*) FROM parked_emails")[0][0]))

    def outbox(self) -> dict[int, tuple[str, str | None]]:
        """Each outgoing email's phase and last error, by activity."""
        rows = self._rows("SELECT activity_id, phase, last_error FROM outbox")
        return {int(str(a)): (str(phase), e if e is None else str(e)) for a, phase, e in rows}

    def attempts(self, activity_id: int) -> int:
        """How many times sending the email was tried."""
        rows = self._rows("SELECT attempts FROM outbox WHERE activity_id = %s", (activity_id,))
        return int(str(rows[0][0])) if rows else 0

    def jobs(self, task: str) -> dict[str, int]:
        """The task queue's jobs of ``task`` still kept, counted by status."""
        rows = self._rows(
            "SELECT status, count(*) FROM procrastinate_jobs WHERE task_name = %s GROUP BY 1",
            (task,),
        )
        return {str(status): int(str(n)) for status, n in rows}

    def deliveries(self) -> list[tuple[str, int]]:
        """Every webhook delivery's status and number of tries, oldest first."""
        rows = self._rows("SELECT status, attempts FROM webhook_deliveries ORDER BY id")
        return [(str(status), int(str(n))) for status, n in rows]

    def uidvalidity(self, mailbox_id: int, folder: str) -> int | None:
        rows = self._rows(
            "SELECT uidvalidity FROM folder_cursors WHERE mailbox_id = %s AND folder = %s",
            (mailbox_id, folder),
        )
        return int(str(rows[0][0])) if rows else None

    def last_uid(self, mailbox_id: int, folder: str) -> int:
        """The highest UID the mailbox's folder cursor has passed (0 before its first sync)."""
        rows = self._rows(
            "SELECT last_uid FROM folder_cursors WHERE mailbox_id = %s AND folder = %s",
            (mailbox_id, folder),
        )
        return int(str(rows[0][0])) if rows else 0

    def terminate_others(self) -> int:
        """Ends every connection to the database but this ledger's (pg_terminate_backend);
        how many."""
        rows = self._rows(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return len(rows)


def deliver_all(server: DovecotServer, addresses: Sequence[str], raws: Sequence[bytes]) -> None:
    """Deliver every email to every address over one LMTP connection: a burst.

    One recipient per transaction: LMTP answers DATA once per recipient, which
    ``smtplib.LMTP`` does not read."""
    with smtplib.LMTP(server.host, server.lmtp_port, timeout=30) as lmtp:
        for raw in raws:
            for address in addresses:
                refused = lmtp.sendmail("sender@tidings.test", [address], raw)
                assert not refused, refused
