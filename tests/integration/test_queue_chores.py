"""On PostgreSQL, housekeeping (forgetting old webhook deliveries, and the queue's own
finished jobs) is a periodic task of the queue: deferred once per time for all workers
(procrastinate's periodic defers are unique per time), and run by whichever worker fetches
it. The queue's statements each commit by themselves."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import psycopg
import pytest
from procrastinate.jobs import Status

from tests.builders import Org
from tidings.adapters.task_queue.procrastinate_queue import (
    Chore,
    ProcrastinateQueue,
    QueueTiming,
    conninfo,
)
from tidings.services.sync.holding import MailboxHolding

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _run_workers(
    org: Org, database_url: str, chore: Callable[[], object], until: threading.Event
) -> None:
    """Two workers in this process, each with the chore every second, until ``until``."""

    async def main() -> None:
        stop = asyncio.Event()
        runs = []
        for name in ("one", "two"):
            queue = ProcrastinateQueue(
                database_url,
                QueueTiming(6),
                name=name,
                chores=[Chore("tick", "* * * * * *", chore)],
            )
            holding = MailboxHolding(org.tidings.uow, queue, org.tidings.clock, set, worker=name)
            runs.append(asyncio.ensure_future(holding.run(stop)))
        try:
            await asyncio.to_thread(until.wait, 60)
        finally:
            stop.set()
            await asyncio.gather(*runs)

    asyncio.run(main())


def test_a_chore_of_the_queue_runs_at_its_times_in_the_workers(org: Org, database_url: str) -> None:
    done: list[str] = []
    enough = threading.Event()

    def chore() -> None:
        done.append(threading.current_thread().name)
        if len(done) >= 3:
            enough.set()

    _run_workers(org, database_url, chore, enough)
    assert len(done) >= 3


def test_finished_jobs_older_than_the_retention_are_forgotten_and_the_others_kept(
    database_url: str,
) -> None:
    async def main() -> dict[str, str]:
        queue = ProcrastinateQueue(database_url, QueueTiming(6))
        manager, app = queue.app.job_manager, queue.app
        async with app.open_async():
            ids = {"doing": await app.configure_task("send_email").defer_async(activity_id=0)}
            worker = await manager.register_worker()
            running = await manager.fetch_job(None, worker)
            assert running is not None and running.id == ids["doing"]
            for name in ("succeeded", "failed", "cancelled", "recently failed", "todo"):
                ids[name] = await app.configure_task("send_email").defer_async(activity_id=len(ids))
            for name, status in [
                ("succeeded", Status.SUCCEEDED),
                ("failed", Status.FAILED),
                ("recently failed", Status.FAILED),
            ]:
                await manager.finish_job_by_id_async(ids[name], status, delete_job=False)
            await manager.cancel_job_by_id_async(ids["cancelled"])
            # Eight days pass for every job but the recent one.
            await app.connector.execute_query_async(
                "UPDATE procrastinate_events SET at = at - interval '8 days'"
                " WHERE job_id <> %(recent)s",
                recent=ids["recently failed"],
            )
            await queue.forget_finished_jobs(7)
            left = await app.connector.execute_query_all_async(
                "SELECT id, status FROM procrastinate_jobs"
            )
            await manager.unregister_worker(worker)
        names = {job_id: name for name, job_id in ids.items()}
        return {names[row["id"]]: row["status"] for row in left}

    assert asyncio.run(main()) == {
        "recently failed": "failed",
        "todo": "todo",
        "doing": "doing",
    }


def test_the_dispatcher_queues_a_hold_job_only_for_the_mailboxes_with_none(
    database_url: str,
) -> None:
    # Mailbox 1's job runs, 2's waits, 3's ended, 4 never had one; a job of another task
    # about mailbox 5 is not its hold job.
    async def main() -> tuple[int, int, list[tuple[int, str]]]:
        queue = ProcrastinateQueue(database_url, QueueTiming(6))
        manager, app = queue.app.job_manager, queue.app
        async with app.open_async():
            await queue.hand_back(1)
            worker = await manager.register_worker()
            running = await manager.fetch_job(None, worker)
            assert running is not None
            await queue.hand_back(2)
            ended = await app.configure_task("hold_mailbox").defer_async(mailbox_id=3)
            await manager.finish_job_by_id_async(ended, Status.SUCCEEDED, delete_job=False)
            await app.configure_task("test_mailbox").defer_async(mailbox_id=5)
            first = await queue.defer_missing([1, 2, 3, 4, 5])
            again = await queue.defer_missing([1, 2, 3, 4, 5])
            rows = await app.connector.execute_query_all_async(
                "SELECT (args->>'mailbox_id')::int AS mailbox, status FROM procrastinate_jobs"
                " WHERE task_name = 'hold_mailbox' ORDER BY id"
            )
            await manager.unregister_worker(worker)
        return first, again, [(row["mailbox"], row["status"]) for row in rows]

    first, again, jobs = asyncio.run(main())
    assert (first, again) == (3, 0)
    assert sorted(jobs) == [
        (1, "doing"),
        (2, "todo"),
        (3, "succeeded"),
        (3, "todo"),
        (4, "todo"),
        (5, "todo"),
    ]


def test_a_statement_of_the_queue_leaves_no_transaction_open_behind_it(
    database_url: str,
) -> None:
    # A worker paused (SIGSTOP, a frozen VM) right after a statement of the queue must not
    # keep that statement's transaction, and its locks, open until it runs again: the
    # server commits each statement by itself.
    async def main() -> str:
        queue = ProcrastinateQueue(database_url, QueueTiming(6))
        async with queue.app.open_async(), queue.app.connector.pool.connection() as conn:
            await conn.execute("SELECT 1")
            with psycopg.connect(conninfo(database_url), autocommit=True) as other:
                row = other.execute(
                    "SELECT state FROM pg_stat_activity WHERE pid = %s",
                    (conn.info.backend_pid,),
                ).fetchone()
        assert row is not None
        return str(row[0])

    assert asyncio.run(main()) == "idle"
