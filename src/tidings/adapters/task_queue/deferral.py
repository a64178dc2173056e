"""Jobs deferred inside a storage transaction (PostgreSQL): the job's row is written with
the rows it is about and committed or rolled back with them, so no email is queued
without its send job, and no job is left for an email that was never queued.

On SQLite there is no task queue: deferring does nothing, and the one process polls.
"""

from __future__ import annotations

import contextlib
import functools
from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from procrastinate import App

SEND_TASK = "send_email"
WEBHOOK_TASK = "deliver_webhook"


def send_lock(activity_id: int) -> str:
    """The lock and queueing lock of an email's send job: one waits, one runs, at most."""
    return f"send:{activity_id}"


def webhook_lock(delivery_id: int) -> str:
    return f"webhook:{delivery_id}"


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

    def send_email(self, activity_id: int) -> None:
        self._defer(SEND_TASK, send_lock(activity_id), activity_id=activity_id)

    def _defer(self, task: str, lock: str, **arguments: int) -> None:
        if self._conn.dialect.name != "postgresql":
            return
        from procrastinate.exceptions import AlreadyEnqueued

        raw = self._conn.connection.driver_connection
        # A job already waiting is the one wanted; its refusal must not end the transaction,
        # so the insert has a savepoint of its own.
        with contextlib.suppress(AlreadyEnqueued), self._conn.begin_nested():
            _deferrer().configure_task(task, lock=lock, queueing_lock=lock, connection=raw).defer(
                **arguments
            )
