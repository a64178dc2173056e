"""Mailboxes shared by any number of sync workers on one PostgreSQL database.

A task queue (``HoldQueue``) keeps one *hold job* per mailbox that should sync, and runs
each mailbox's job on one worker at a time. A worker running a hold job holds that mailbox:
its sync loop follows the mailbox's folders for as long as the job runs. The job ends, and
the mailbox goes back to the queue for any worker, when

- the worker stops (SIGTERM): the job hands the mailbox back at once;
- the worker holds more than its fair share (``domain.holding``): the newest taken go back;
- the mailbox no longer syncs (disabled, its credential removed): no job is put back, and
  the dispatcher defers a new one once it syncs again.

A worker that dies without a word (kill -9, a lost host) stops beating in the queue; its
jobs are found stalled and put back, so another worker takes its mailboxes within the
takeover bound. A worker that was only paused that long finds, at its next count, that the
queue no longer runs its hold jobs (``HoldQueue.lost``) and lets go of their mailboxes
without handing them back: the new jobs are the mailboxes' jobs now. Which worker holds what
is stored per mailbox for the API and the CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Protocol

from tidings.domain.error_text import brief
from tidings.domain.holding import Holder, excess, takes_another
from tidings.services.ports import Clock, UnitOfWork

log = logging.getLogger(__name__)

#: How long a hold job waits for its mailbox's folder tasks to end before it lets go anyway.
RELEASE_SECONDS = 30.0
#: A refused mailbox waits this long before any worker may take it again: a worker at its
#: share that fetched it does not fetch it straight back.
REFUSED_DELAY_SECONDS = 1.0


def worker_name() -> str:
    """How people see this worker process: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class HoldQueue(Protocol):
    """The task queue that runs each mailbox's hold job on one worker at a time."""

    async def live_workers(self) -> int:
        """Workers whose heartbeat is recent (this one included)."""
        ...

    async def hand_back(self, mailbox_id: int, *, delay_seconds: float = 0.0) -> None:
        """Queue the mailbox's hold job again, for any worker to take after the delay."""
        ...

    async def defer_missing(self, mailbox_ids: Collection[int]) -> int:
        """Queue a hold job for each mailbox that has none waiting or running; how many."""
        ...

    async def retry_stalled(self) -> int:
        """Put back the jobs of workers that stopped beating; how many."""
        ...

    async def lost(self, job_ids: Collection[int]) -> set[int]:
        """Which of these hold jobs running here the queue no longer counts as this
        worker's (put back by the others while it was silent)."""
        ...

    async def work(self, stop: asyncio.Event, jobs: MailboxHolding) -> None:
        """Run this worker's jobs until ``stop``; then wait for its hold jobs to end."""
        ...


class HeldMailboxes:
    """The mailboxes this worker holds, shared by its hold jobs and its sync loop.

    Hold jobs take and release; the sync loop reads ``ids``, is woken by ``changed`` and
    reports the mailboxes whose folder tasks run (``ran``), so that a release returns only
    once the mailbox's folders are no longer synced here.
    """

    def __init__(self) -> None:
        #: In the order taken: the newest are the first handed back.
        self._ids: dict[int, None] = {}
        self._running: set[int] = set()
        self._ran = asyncio.Condition()
        self.changed = asyncio.Event()

    def ids(self) -> frozenset[int]:
        return frozenset(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def take(self, mailbox_id: int) -> None:
        self._ids[mailbox_id] = None
        self.changed.set()

    def newest(self, count: int) -> list[int]:
        """The ``count`` mailboxes taken last."""
        return list(self._ids)[len(self._ids) - count :] if count > 0 else []

    async def release(self, mailbox_id: int) -> None:
        """Let go of the mailbox and wait until its folder tasks have ended."""
        self._ids.pop(mailbox_id, None)
        self.changed.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(RELEASE_SECONDS), self._ran:
                await self._ran.wait_for(lambda: mailbox_id not in self._running)

    async def ran(self, mailbox_ids: Collection[int]) -> None:
        """The sync loop's report: folder tasks run for exactly these mailboxes."""
        async with self._ran:
            self._running = set(mailbox_ids)
            self._ran.notify_all()


@dataclass
class _Hold:
    """One hold job running here: its job in the queue (None where the queue names none),
    what ends it (whether the mailbox goes back to the queue), and its end."""

    job: int | None
    verdict: asyncio.Future[bool]
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class MailboxHolding:
    """This worker's side of sharing mailboxes: the hold job's body, the dispatcher and the
    takeover of dead workers' mailboxes."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        queue: HoldQueue,
        clock: Clock,
        wanted: Callable[[], Collection[int]],
        *,
        refresh_seconds: float = 5.0,
        worker: str | None = None,
    ) -> None:
        self._uow = uow_factory
        self._queue = queue
        self._clock = clock
        #: The mailboxes that should sync now (read from storage: call in a thread).
        self._wanted = wanted
        self._refresh_seconds = refresh_seconds
        self.worker = worker or worker_name()
        self.held = HeldMailboxes()
        self._counts: tuple[frozenset[int], int] | None = None
        #: Hold jobs starting together (a worker's first seconds) share one count.
        self._counting = asyncio.Lock()
        self._counted_at = 0.0
        #: Per mailbox held, its hold job, until the job has ended. Verdicts are settled by
        #: each count, so that the jobs of a thousand mailboxes sleep through the counts
        #: that change nothing for them.
        self._holds: dict[int, _Hold] = {}
        self._watched: set[asyncio.Event] = set()
        self._watchers: set[asyncio.Task[None]] = set()

    async def refresh(self) -> tuple[frozenset[int], int]:
        """Read the mailboxes that should sync, the live workers and which of this worker's
        hold jobs the queue has taken back, and end the hold jobs that this count tells to."""
        started = time.monotonic()
        wanted = frozenset(await asyncio.to_thread(self._wanted))
        workers = await self._queue.live_workers()
        jobs = {h.job for h in self._holds.values() if h.job is not None and not h.verdict.done()}
        lost = await self._queue.lost(jobs) if jobs else set()
        self._counts = (wanted, workers)
        self._counted_at = started
        self._judge(wanted, workers, lost)
        return self._counts

    def _judge(self, wanted: frozenset[int], workers: int, lost: set[int]) -> None:
        pending = {m for m, hold in self._holds.items() if not hold.verdict.done()}
        leaving: dict[int, bool] = {}
        for mailbox_id in pending:
            if mailbox_id not in wanted:
                log.info("mailbox %s no longer syncs; let go", mailbox_id)
                leaving[mailbox_id] = False  # the dispatcher queues it again once it does
            elif self._holds[mailbox_id].job in lost:
                # This worker fell silent long enough to be taken for dead (paused, cut off
                # from the database): the queue gave the mailbox a new job, which is its
                # job now, whoever runs it (this worker too, perhaps).
                log.warning("mailbox %s was taken over while this worker was silent", mailbox_id)
                leaving[mailbox_id] = False
        kept = pending - leaving.keys()
        staying = [m for m in self.held.newest(len(self.held)) if m in kept]
        over = excess(len(staying), len(wanted), workers)
        for mailbox_id in staying[len(staying) - over :] if over > 0 else []:
            log.info("mailbox %s handed back: this worker holds over its share", mailbox_id)
            leaving[mailbox_id] = True
        for mailbox_id, hand_back in leaving.items():
            self._holds[mailbox_id].verdict.set_result(hand_back)

    async def _recent_counts(self, within: float | None = None) -> tuple[frozenset[int], int]:
        """The counts, read again unless read within ``within`` seconds (by default the
        refresh interval)."""
        age = self._refresh_seconds if within is None else within
        async with self._counting:
            if self._counts is None or time.monotonic() - self._counted_at > age:
                return await self.refresh()
            return self._counts

    async def run(self, stop: asyncio.Event) -> None:
        """Take part in the queue until ``stop``: run hold jobs as it hands them out, and
        re-read the counts every few seconds so that they see workers come and go."""
        await asyncio.gather(self._count(stop), self._queue.work(stop, self))

    async def _count(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.refresh()
            except Exception as error:  # storage away: hold jobs keep what they hold
                log.error("the mailboxes and workers were not counted: %s", brief(error))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._refresh_seconds)

    async def hold(self, mailbox_id: int, stop: asyncio.Event, job_id: int | None = None) -> None:
        """The hold job (``job_id`` in the queue): sync the mailbox here until it must go
        elsewhere or stop."""
        if stop.is_set():
            await self._queue.hand_back(mailbox_id)
            return
        earlier = self._holds.get(mailbox_id)
        if earlier is not None:
            # The queue runs one job per mailbox at a time (its lock): the earlier job no
            # longer runs as far as the queue knows. It was taken over while this worker was
            # silent, and this one is the mailbox's job now; the earlier one lets go without
            # handing back, and its end is over before this one takes the mailbox.
            log.warning("mailbox %s: a new hold job; the one taken over lets go", mailbox_id)
            if not earlier.verdict.done():
                earlier.verdict.set_result(False)
            await earlier.ended.wait()
        wanted, workers = await self._recent_counts()
        if mailbox_id not in wanted:
            return  # it syncs no more: the dispatcher queues it again once it does
        if not takes_another(len(self.held), len(wanted), workers):
            # Counts up to an interval old still count a worker that has stopped since, and
            # its mailboxes, handed back at once, would wait for the next count: a refusal
            # is decided on counts no older than the wait it imposes.
            wanted, workers = await self._recent_counts(within=REFUSED_DELAY_SECONDS)
            if mailbox_id not in wanted:
                return
        if not takes_another(len(self.held), len(wanted), workers):
            log.info("mailbox %s refused: this worker holds its share", mailbox_id)
            await self._queue.hand_back(mailbox_id, delay_seconds=REFUSED_DELAY_SECONDS)
            return
        # The hold lasts as long as the worker: its frame must not keep the set of every
        # mailbox as this count read it (a thousand holds, as many sets of a thousand).
        del wanted
        self.held.take(mailbox_id)
        log.info("mailbox %s held by %s", mailbox_id, self.worker)
        hold = self._holds[mailbox_id] = _Hold(job_id, asyncio.get_running_loop().create_future())
        self._hand_back_all_at(stop)
        hand_back = True
        try:
            await self._store_holder(mailbox_id)
            hand_back = await hold.verdict
        finally:
            try:
                await self.held.release(mailbox_id)
                with contextlib.suppress(Exception):  # the next holder writes over it anyway
                    await asyncio.to_thread(self._forget_holder, mailbox_id)
                if hand_back:
                    # Queued again: any worker (this one after a stop, no more) takes it.
                    await asyncio.shield(self._queue.hand_back(mailbox_id))
            finally:
                del self._holds[mailbox_id]
                hold.ended.set()

    def _hand_back_all_at(self, stop: asyncio.Event) -> None:
        """Once ``stop`` is set, every hold job ends and hands its mailbox back."""

        def settle() -> None:
            for hold in self._holds.values():
                if not hold.verdict.done():
                    hold.verdict.set_result(True)

        if stop.is_set():
            settle()
            return
        if stop in self._watched:
            return
        self._watched.add(stop)

        async def watch() -> None:
            await stop.wait()
            self._watched.discard(stop)
            settle()

        watcher = asyncio.ensure_future(watch())
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def dispatch(self) -> int:
        """Queue a hold job for every mailbox that should sync and has none."""
        wanted = await asyncio.to_thread(self._wanted)
        return await self._queue.defer_missing(wanted)

    async def take_over(self) -> int:
        """Put back the hold jobs (and any other job) of workers that stopped beating."""
        count = await self._queue.retry_stalled()
        if count:
            log.warning("%s job(s) of stopped workers put back for the others", count)
        return count

    async def _store_holder(self, mailbox_id: int) -> None:
        try:
            await asyncio.to_thread(self._save_holder, mailbox_id)
        except Exception as error:  # the holder is for people to read: sync goes on
            log.error("the holder of mailbox %s was not stored: %s", mailbox_id, brief(error))

    def _save_holder(self, mailbox_id: int) -> None:
        with self._uow() as uow:
            uow.sync.hold(mailbox_id, Holder(self.worker, self._clock.now()))
            uow.commit()

    def _forget_holder(self, mailbox_id: int) -> None:
        with self._uow() as uow:
            uow.sync.let_go(mailbox_id, self.worker)
            uow.commit()
