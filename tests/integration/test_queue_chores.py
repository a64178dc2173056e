"""On PostgreSQL, housekeeping (forgetting old webhook deliveries) is a periodic task of the
queue: deferred once per time for all workers (procrastinate's periodic defers are unique per
time), and run by whichever worker fetches it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from tests.builders import Org
from tidings.adapters.task_queue.procrastinate_queue import Chore, ProcrastinateQueue, QueueTiming
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
