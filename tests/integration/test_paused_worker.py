"""On PostgreSQL, a worker silent past the takeover bound (paused, cut off from the database)
has its hold jobs taken by the others' look for stalled jobs: each is replaced by a new job
for its mailbox. Once the worker runs again, it lets go of what it held through the old
jobs, records no end for them (their rows are gone, or another worker's), and holds a
mailbox again only through the mailbox's new job: a new job it fetches is never dropped as a
duplicate of the one taken over."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import psycopg
import pytest

from tests.builders import Org
from tidings.adapters.task_queue.procrastinate_queue import (
    HOLD_TASK,
    ProcrastinateQueue,
    QueueTiming,
    conninfo,
)
from tidings.services.sync.holding import MailboxHolding

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

#: Long: the worker beats, counts and dispatches only a few times within the test, so that
#: what moves the mailbox is the takeover the test makes.
TAKEOVER = 60


def _running_holds(database_url: str, mailbox_id: int) -> list[tuple[int, int | None]]:
    """The mailbox's running hold jobs: id and worker id."""
    with psycopg.connect(conninfo(database_url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT id, worker_id FROM procrastinate_jobs WHERE task_name = %s"
            " AND status = 'doing' AND (args->>'mailbox_id')::bigint = %s ORDER BY id",
            (HOLD_TASK, mailbox_id),
        ).fetchall()
    return [(job_id, worker_id) for job_id, worker_id in rows]


def _silence(database_url: str) -> None:
    """Every worker of the queue looks silent for an hour, as a paused one does."""
    with psycopg.connect(conninfo(database_url), autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'")


def _resume(database_url: str) -> None:
    """Every worker of the queue beats again, as a paused one does once it runs: until
    then, every look for stalled jobs (the worker's own periodic one too) would take its
    new job as well."""
    with psycopg.connect(conninfo(database_url), autocommit=True) as conn:
        conn.execute("UPDATE procrastinate_workers SET last_heartbeat = now()")


async def _until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + 30
    while not await condition():
        assert time.monotonic() < deadline, f"{what} did not happen within 30 s"
        await asyncio.sleep(0.05)


def test_a_worker_whose_hold_job_was_taken_over_holds_the_mailbox_through_the_new_job(
    org: Org, database_url: str
) -> None:
    dana = org.mailboxes["dana"]
    errors: list[str] = []

    async def main() -> tuple[int, int, frozenset[int]]:
        asyncio.get_running_loop().set_exception_handler(
            lambda _loop, context: errors.append(str(context.get("exception", context)))
        )
        other = ProcrastinateQueue(database_url, QueueTiming(TAKEOVER), name="other")
        queue = ProcrastinateQueue(database_url, QueueTiming(TAKEOVER), name="silent")
        holding = MailboxHolding(
            org.tidings.uow,
            queue,
            org.tidings.clock,
            lambda: {dana},
            refresh_seconds=3600,
            worker="silent:1",
        )
        stop = asyncio.Event()
        async with other.app.open_async():
            await other.defer_missing({dana})
            run = asyncio.ensure_future(holding.run(stop))
            try:

                async def held_once() -> bool:
                    return len(await asyncio.to_thread(_running_holds, database_url, dana)) == 1

                await _until(held_once, "the mailbox held")
                ((first, worker),) = _running_holds(database_url, dana)
                assert await queue.lost({first}) == set()

                # The worker falls silent past the takeover, and another worker's look for
                # stalled jobs replaces its hold job (its own heartbeat, every 10 s, may
                # come in between: the test waits for a look that finds it silent).
                async def taken_over() -> bool:
                    await asyncio.to_thread(_silence, database_url)
                    # The worker's own periodic look may take the job first: either way the
                    # old job is then no longer its own.
                    await other.retry_stalled()
                    return await queue.lost({first}) == {first}

                await _until(taken_over, "the hold job taken over")
                await asyncio.to_thread(_resume, database_url)
                assert await queue.lost({first}) == {first}

                # The worker was not paused at all here: it runs on as a resumed one does,
                # and fetches the mailbox's new job at once.
                async def held_again() -> bool:
                    holds = await asyncio.to_thread(_running_holds, database_url, dana)
                    return len(holds) == 1 and holds[0][0] != first

                await _until(held_again, "the mailbox held through its new job")
                ((second, again),) = _running_holds(database_url, dana)
                assert again == worker

                async def stored_as_held_here() -> bool:
                    state = await asyncio.to_thread(org.tidings.queries.sync_state)
                    holder = state[dana].held_by
                    return holder is not None and holder.worker == "silent:1"

                # The old job's end does not forget the holder the new one stored.
                await _until(stored_as_held_here, "the worker named as the mailbox's holder")
                held = holding.held.ids()
            finally:
                stop.set()
                await run
        return first, second, held

    first, second, held = asyncio.run(main())
    assert second != first
    assert held == {dana}
    assert errors == []
