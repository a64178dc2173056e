"""Jobs deferred inside a storage transaction (PostgreSQL): the job's row is written with
the rows it is about and committed or rolled back with them, so no email is queued
without its send job, and no job is left for an email that was never queued.

On SQLite there is no task queue: deferring does nothing, and the one process polls.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Collection
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text

if TYPE_CHECKING:
    from procrastinate import App

SEND_TASK = "send_email"
WEBHOOK_TASK = "deliver_webhook"
TEST_TASK = "test_mailbox"


def send_lock(activity_id: int) -> str:
    """The lock and queueing lock of an email's send job: one waits, one runs, at most."""
    return f"send:{activity_id}"


def webhook_lock(delivery_id: int) -> str:
    return f"webhook:{delivery_id}"


def test_lock(mailbox_id: int) -> str:
    return f"test:{mailbox_id}"


def profile_slot(profile_id: int | None, mailbox_id: int, connections: int) -> str:
    """The lock of a mailbox's test: one of the profile's ``connections`` slots, so that the
    workers together never test more of its mailboxes at once."""
    if profile_id is None:
        return test_lock(mailbox_id)
    return f"profile:{profile_id}:{mailbox_id % max(1, connections)}"


@functools.cache
def _deferrer() -> App:
    # Imported here: a process on SQLite never needs the task queue.
    from procrastinate import App, SyncPsycopgConnector

    # Never opened: every defer goes through a connection handed in, not a pool.
    return App(connector=SyncPsycopgConnector())


class TransactionalJobs:
    """Defers jobs on the connection of one unit of work, in its transaction."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    @property
    def available(self) -> bool:
        """Whether workers run deferred jobs (PostgreSQL), rather than nothing being kept."""
        return self._conn.dialect.name == "postgresql"

    def send_email(self, activity_id: int) -> None:
        self._defer(
            SEND_TASK, send_lock(activity_id), send_lock(activity_id), activity_id=activity_id
        )

    def test_mailbox(self, mailbox_id: int, profile_id: int | None, connections: int) -> None:
        """Test & Enable of one mailbox, by a worker, within its profile's connections."""
        slot = profile_slot(profile_id, mailbox_id, connections)
        self._defer(TEST_TASK, slot, test_lock(mailbox_id), mailbox_id=mailbox_id)

    def tests_pending(self, mailbox_ids: Collection[int]) -> set[int]:
        if not self.available or not mailbox_ids:
            return set()
        # Found by the queueing lock, which names the mailbox; a job to be tried again
        # waits as todo, so it still counts.
        rows = self._conn.execute(
            text(
                "SELECT (args->>'mailbox_id')::bigint FROM procrastinate_jobs"
                " WHERE task_name = :task AND status IN ('todo', 'doing')"
                " AND queueing_lock = ANY(:locks)"
            ),
            {"task": TEST_TASK, "locks": [test_lock(i) for i in mailbox_ids]},
        )
        return {int(mailbox_id) for (mailbox_id,) in rows}

    def _defer(self, task: str, lock: str, queueing_lock: str, **arguments: int) -> None:
        if not self.available:
            return
        from procrastinate.exceptions import AlreadyEnqueued

        raw = self._conn.connection.driver_connection
        # A job already waiting is the one wanted; its refusal must not end the transaction,
        # so the insert has a savepoint of its own.
        with contextlib.suppress(AlreadyEnqueued), self._conn.begin_nested():
            _deferrer().configure_task(
                task, lock=lock, queueing_lock=queueing_lock, connection=raw
            ).defer(**arguments)
