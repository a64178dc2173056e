"""The task queue on PostgreSQL: procrastinate runs the mailboxes' hold jobs on the workers.

- ``hold_mailbox``: one job per mailbox, with the lock and the queueing lock
  ``mailbox:<id>``: one worker at a time runs it, and at most one more waits for it.
- ``dispatch_mailboxes`` (periodic): a hold job for every mailbox that has none.
- chores (periodic): housekeeping that one worker does for all, such as forgetting old
  webhook deliveries, or the queue's own finished jobs (``forget_finished_jobs``);
- subject tasks: work on one email or one webhook delivery (``send_email``,
  ``deliver_webhook``), deferred once per subject (its lock and queueing lock name the
  subject, so one run at a time), retried with exponential back-off, and, once the last
  attempt has failed, ending with the subject parked with the error (``SubjectTask``);
- ``take_over_stalled`` (periodic): the jobs of workers whose heartbeat is older than half
  the takeover bound go back to the queue (procrastinate's stalled jobs); a stalled hold
  job is replaced by a new one, so that a worker that was only paused cannot end the job
  its successor runs.

A worker records a job's end only while the job is still its own (``OwnJobManager``): one
that was paused past the takeover finds its jobs taken, lets go of them and leaves their
rows, by then another worker's or gone, untouched.

Every period follows from one setting, the takeover bound: a dead worker's mailboxes are
taken by the others within it (heartbeat age, plus a period, plus a fetch).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from procrastinate import App, JobContext, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import DeleteJobCondition, Job, Status
from procrastinate.manager import JobManager
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from psycopg import AsyncConnection
from psycopg.errors import ForeignKeyViolation
from sqlalchemy.engine import make_url
from typing_extensions import override

from tidings.adapters.storage.listening import ListeningConnection
from tidings.domain.error_text import brief
from tidings.domain.retry import Backoff, RetryLater

log = logging.getLogger(__name__)

HOLD_TASK = "hold_mailbox"
#: Jobs run on one worker at once: mailboxes held plus the short periodic jobs. A slot is
#: an asyncio task, so the number only needs to be out of reach.
CONCURRENCY = 100_000
#: How often a worker asks for the running jobs someone wants aborted. Tidings never asks
#: (procrastinate's own command line could, and its notification reaches the worker at
#: once anyway); every look goes through all the running jobs, a thousand hold jobs.
ABORT_POLLING_SECONDS = 60.0
#: A worker dropped from the queue's list of workers waits this long before it joins again
#: (it cannot recur sooner than the takeover bound; the pause keeps a fault from spinning).
REJOIN_PAUSE_SECONDS = 1.0


class HoldJobs(Protocol):
    """What the queue's jobs do (the mailbox holding service)."""

    async def hold(
        self, mailbox_id: int, stop: asyncio.Event, job_id: int | None = None
    ) -> None: ...
    async def dispatch(self) -> int: ...
    async def take_over(self) -> int: ...


@dataclass(frozen=True)
class QueueTiming:
    """The periods that keep a dead worker's mailboxes unheld for at most ``takeover``."""

    takeover: float

    @property
    def heartbeat(self) -> float:
        return max(0.5, self.takeover / 6)

    @property
    def stalled_after(self) -> float:
        """A worker silent this long is taken for dead; three heartbeats missed."""
        return self.takeover / 2

    @property
    def period(self) -> int:
        """Seconds between two dispatches, and between two looks for stalled jobs."""
        return max(1, min(30, round(self.takeover / 6)))

    @property
    def recount(self) -> float:
        """Seconds between two counts of the mailboxes and live workers on each worker: a
        worker that joins is given its share this soon."""
        return min(5, self.period)

    @property
    def fetch_polling(self) -> float:
        """A job put back (not inserted) wakes no worker: they look this often."""
        return max(0.5, min(2.0, self.takeover / 10))


def conninfo(database_url: str) -> str:
    """The libpq connection string of a ``postgresql+psycopg://`` SQLAlchemy URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


async def _autocommit(connection: AsyncConnection) -> None:
    await connection.set_autocommit(True)


def _lock(mailbox_id: int) -> str:
    return f"mailbox:{mailbox_id}"


@dataclass(frozen=True)
class Chore:
    """Housekeeping done by one worker of all at each time of ``cron`` (a 5-field cron
    expression, or 6 fields with seconds); ``run`` is a coroutine function, or blocking and
    then run in a thread."""

    name: str
    cron: str
    run: Callable[[], object]


@dataclass(frozen=True)
class SubjectTask:
    """Work on one subject (an email, a webhook delivery) named by the job's argument
    ``arg``. ``run`` is idempotent: a job run again (after a crash, or deferred twice) finds
    the subject done and does nothing. It raises ``RetryLater`` once it has recorded a
    failed try; any exception is retried after the back-off's wait, up to ``max_attempts``
    runs in all, after which ``give_up`` parks the subject with the error. One worker runs
    at most ``concurrency`` of them at once; the others it fetched wait their turn."""

    name: str
    arg: str
    lock: Callable[[int], str]
    run: Callable[[int], Awaitable[object]]
    give_up: Callable[[int, str], Awaitable[object]]
    max_attempts: int
    backoff: Backoff
    concurrency: int


class BackoffRetry(BaseRetryStrategy):
    """Exponential back-off (``Backoff``), or the wait a ``RetryLater`` names."""

    def __init__(self, max_attempts: int, backoff: Backoff) -> None:
        self.max_attempts = max_attempts
        self.backoff = backoff

    @override
    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if is_last(job.attempts, self.max_attempts):
            return None
        seconds = exception.seconds if isinstance(exception, RetryLater) else None
        if seconds is None:
            seconds = self.backoff.delay(job.attempts + 1)
        return RetryDecision(retry_in={"seconds": max(1, round(seconds))})


def is_last(previous_attempts: int, max_attempts: int) -> bool:
    """Whether a run after ``previous_attempts`` failed ones is the last allowed."""
    return previous_attempts + 1 >= max_attempts


# Each finds the job, locked, only while it is still the one the worker that fetched it runs:
# neither put back by the others' look for stalled jobs (deleted, or ``todo`` again) nor
# fetched since by another worker; and then ends it as procrastinate does. No row: left alone.
_FINISH_OWN_JOB = """
WITH own AS (
    SELECT id FROM procrastinate_jobs
     WHERE id = %(job_id)s AND status = 'doing' AND worker_id IS NOT DISTINCT FROM %(worker_id)s
       FOR UPDATE)
SELECT procrastinate_finish_job_v1(id, %(status)s, %(delete_job)s)::text FROM own
"""
_RETRY_OWN_JOB = """
WITH own AS (
    SELECT id FROM procrastinate_jobs
     WHERE id = %(job_id)s AND status = 'doing' AND worker_id IS NOT DISTINCT FROM %(worker_id)s
       FOR UPDATE)
SELECT procrastinate_retry_job_v2(id, %(retry_at)s, %(priority)s, %(queue)s, %(lock)s)::text
  FROM own
"""


class OwnJobManager(JobManager):
    """Records a job's end (its success, failure or retry) only while the job is still the
    one this worker runs.

    A worker paused past the takeover bound (a frozen VM) has its jobs taken while it is
    silent: a hold job is replaced by a new one (its row deleted), any other job goes back to
    the queue under the same id and may run on another worker by the time this one wakes.
    procrastinate would then fail on the row it no longer finds, or end the run of the
    worker that has the job now; here the late end leaves the row alone."""

    @override
    async def finish_job(self, job: Job, status: Status, delete_job: bool) -> None:
        if not await self.finish_own_job(job, status, delete_job=delete_job):
            _taken_over(job)

    @override
    async def retry_job(
        self,
        job: Job,
        retry_at: datetime | None = None,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> None:
        if not await self.retry_own_job(job, retry_at, priority=priority, queue=queue, lock=lock):
            _taken_over(job)

    async def finish_own_job(self, job: Job, status: Status, *, delete_job: bool) -> bool:
        """End the job if it still runs on the worker named in ``job``; whether it did."""
        rows = await self.connector.execute_query_all_async(
            _FINISH_OWN_JOB,
            job_id=job.id,
            worker_id=job.worker_id,
            status=status.value,
            delete_job=delete_job,
        )
        return bool(rows)

    async def retry_own_job(
        self,
        job: Job,
        retry_at: datetime | None = None,
        *,
        priority: int | None = None,
        queue: str | None = None,
        lock: str | None = None,
    ) -> bool:
        """Put the job back in the queue if it still runs on the worker named in ``job``;
        whether it did."""
        rows = await self.connector.execute_query_all_async(
            _RETRY_OWN_JOB,
            job_id=job.id,
            worker_id=job.worker_id,
            retry_at=retry_at or datetime.now(UTC),
            priority=priority,
            queue=queue,
            lock=lock,
        )
        return bool(rows)


def _registration_lost(error: BaseException) -> bool:
    """Whether ``error`` is the queue refusing a job to a worker it no longer lists: the
    job's reference to its worker finds no row (procrastinate 3 links them by key)."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ForeignKeyViolation) and cause.diag.table_name == "procrastinate_jobs":
            return "worker_id" in (cause.diag.constraint_name or "")
        cause = cause.__cause__ or cause.__context__
    return False


def _taken_over(job: Job) -> None:
    log.warning(
        "job %s (%s) was taken over while this worker was silent: its end is not recorded",
        job.id,
        job.task_name,
    )


class ProcrastinateQueue:
    """Hold jobs for mailboxes, run by every ``tidings worker`` sharing one database, and
    the periodic chores that one worker of them does for all."""

    def __init__(
        self,
        database_url: str,
        timing: QueueTiming,
        *,
        name: str = "worker",
        chores: Sequence[Chore] = (),
        tasks: Sequence[SubjectTask] = (),
        pool_size: int = 8,
    ) -> None:
        self._timing = timing
        self._name = name
        self.app = App(
            connector=PsycopgConnector(
                conninfo=conninfo(database_url),
                kwargs={"application_name": "tidings-task-queue"},
                # Its listening connection too, which waits for new jobs all day.
                connection_class=ListeningConnection,
                # Each of the queue's statements is its own transaction, committed by the
                # server: a worker paused (SIGSTOP, a frozen VM) between a statement and
                # its COMMIT would otherwise keep that transaction's locks for as long as it
                # is paused, and the others' periodic deferrals (the look for stalled jobs
                # among them) and job updates would wait on it, taking nothing over.
                configure=_autocommit,
                min_size=1,
                max_size=pool_size,
            )
        )
        self._manager = self.app.job_manager = OwnJobManager(self.app.connector)
        self._jobs: HoldJobs | None = None
        #: The hold jobs running here, each with the worker id the queue gave it to.
        self._holding: dict[int, int | None] = {}
        self._stop = asyncio.Event()
        self._hold = self.app.task(name=HOLD_TASK, pass_context=True)(self._run_hold)
        period = f"* * * * * */{timing.period}"
        dispatch = self.app.task(name="dispatch_mailboxes", queueing_lock="dispatch_mailboxes")(
            self._run_dispatch
        )
        self.app.periodic(cron=period)(dispatch)
        take_over = self.app.task(name="take_over_stalled", queueing_lock="take_over_stalled")(
            self._run_take_over
        )
        self.app.periodic(cron=period)(take_over)
        for chore in chores:
            self.add_chore(chore)
        for subject_task in tasks:
            self.add_task(subject_task)

    def add_chore(self, chore: Chore) -> None:
        """Before ``work``: one more periodic chore."""

        async def run(timestamp: int) -> None:
            if inspect.iscoroutinefunction(chore.run):
                await chore.run()
            else:
                await asyncio.to_thread(chore.run)

        # The lock too: a chore slower than its period is not run twice at once.
        task = self.app.task(name=chore.name, queueing_lock=chore.name, lock=chore.name)(run)
        self.app.periodic(cron=chore.cron)(task)

    def add_task(self, spec: SubjectTask) -> None:
        """Before ``work``: one more kind of subject task."""

        # A worker fetches every job it is offered (the hold jobs need that): the slots
        # keep a backlog of email from becoming hundreds of connections at once.
        slots = asyncio.Semaphore(spec.concurrency)

        async def run(context: JobContext, /, **arguments: int) -> None:
            subject = int(arguments[spec.arg])
            try:
                async with slots:
                    await spec.run(subject)
            except Exception as error:
                if context.job is not None and is_last(context.job.attempts, spec.max_attempts):
                    reason = error.reason if isinstance(error, RetryLater) else brief(error)
                    log.warning("%s %s failed for good: %s", spec.name, subject, reason)
                    await spec.give_up(subject, reason)
                raise

        retry = BackoffRetry(spec.max_attempts, spec.backoff)
        self.app.task(name=spec.name, pass_context=True, retry=retry)(run)

    async def defer_subjects(self, spec: SubjectTask, subject_ids: Collection[int]) -> int:
        """A job for each of these subjects that has none waiting or running; how many."""
        return await self._defer_missing(spec.name, spec.arg, spec.lock, subject_ids)

    async def _run_hold(self, context: JobContext, mailbox_id: int) -> None:
        assert self._jobs is not None  # noqa: S101 - jobs run only inside ``work``
        job = context.job
        if job.id is None:  # a fetched job always has its id
            await self._jobs.hold(mailbox_id, self._stop)
            return
        self._holding[job.id] = job.worker_id
        try:
            await self._jobs.hold(mailbox_id, self._stop, job.id)
        finally:
            del self._holding[job.id]

    async def lost(self, job_ids: Collection[int]) -> set[int]:
        """Which of these hold jobs, running here, the queue no longer counts as this
        worker's: taken over while the worker was silent."""
        if not job_ids:
            return set()
        rows = await self.app.connector.execute_query_all_async(
            "SELECT id, worker_id FROM procrastinate_jobs"
            " WHERE id = ANY(%(ids)s::bigint[]) AND status = 'doing'",
            ids=sorted(job_ids),
        )
        running = {int(row["id"]): row["worker_id"] for row in rows}
        return {
            job_id
            for job_id in job_ids
            if job_id not in running or running[job_id] != self._holding.get(job_id)
        }

    async def _run_dispatch(self, timestamp: int) -> None:
        assert self._jobs is not None  # noqa: S101 - jobs run only inside ``work``
        await self._jobs.dispatch()

    async def _run_take_over(self, timestamp: int) -> None:
        assert self._jobs is not None  # noqa: S101 - jobs run only inside ``work``
        await self._jobs.take_over()

    async def work(self, stop: asyncio.Event, jobs: HoldJobs) -> None:
        """Run this worker's share of the jobs until ``stop``; then wait for the hold jobs,
        which hand their mailboxes back, and leave the queue's list of workers."""
        self._jobs, self._stop = jobs, stop
        async with self.app.open_async():
            while True:
                try:
                    await self._run_worker(stop)
                    return
                except Exception as error:
                    if stop.is_set() or not _registration_lost(error):
                        raise
                # Silent past the takeover bound (paused, a frozen VM), this worker was
                # pruned from the queue's list of workers by one that started meanwhile:
                # the queue cannot hand it a job any more. Its hold jobs were taken over
                # and have let go; it joins again as a new worker, and takes its share.
                log.warning("this worker was taken for dead while silent; it joins again")
                with contextlib.suppress(TimeoutError):  # a pause, should it recur at once
                    await asyncio.wait_for(stop.wait(), REJOIN_PAUSE_SECONDS)
                if stop.is_set():
                    return

    async def _run_worker(self, stop: asyncio.Event) -> None:
        """One run of procrastinate's worker, registered as a worker of its own, until
        ``stop`` or its end."""
        running = asyncio.ensure_future(
            self.app.run_worker_async(
                name=self._name,
                concurrency=CONCURRENCY,
                install_signal_handlers=False,
                update_heartbeat_interval=self._timing.heartbeat,
                stalled_worker_timeout=self._timing.stalled_after,
                fetch_job_polling_interval=self._timing.fetch_polling,
                abort_job_polling_interval=ABORT_POLLING_SECONDS,
                delete_jobs=DeleteJobCondition.SUCCESSFUL,
                shutdown_graceful_timeout=60,
            )
        )
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not running.done():
                # The hold jobs see ``stop`` and end; the worker waits for them.
                running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    async def forget_finished_jobs(self, days: int) -> None:
        """Delete the jobs that finished (succeeded, failed, cancelled or aborted) more than
        ``days`` ago, with their events; a job waiting or running is never touched."""
        # A job that failed for good has already left its error on its subject (the email
        # parked, the mailbox's alert): after a while the row itself only takes room.
        await self.app.job_manager.delete_old_jobs(
            nb_hours=days * 24,
            include_failed=True,
            include_cancelled=True,
            include_aborted=True,
        )

    async def live_workers(self) -> int:
        row = await self.app.connector.execute_query_one_async(
            "SELECT count(*) AS workers FROM procrastinate_workers"
            " WHERE last_heartbeat > now() - make_interval(secs => %(seconds)s)",
            seconds=self._timing.stalled_after,
        )
        return max(1, int(row["workers"]))

    async def hand_back(self, mailbox_id: int, *, delay_seconds: float = 0.0) -> None:
        options: dict[str, Any] = {"lock": _lock(mailbox_id), "queueing_lock": _lock(mailbox_id)}
        if delay_seconds > 0:
            options["schedule_in"] = {"seconds": delay_seconds}
        with contextlib.suppress(AlreadyEnqueued):  # one waits already: it will do
            await self._hold.configure(**options).defer_async(mailbox_id=mailbox_id)

    async def defer_missing(self, mailbox_ids: Collection[int]) -> int:
        return await self._defer_missing(HOLD_TASK, "mailbox_id", _lock, mailbox_ids)

    async def _defer_missing(
        self, task: str, arg: str, lock: Callable[[int], str], subject_ids: Collection[int]
    ) -> int:
        if not subject_ids:
            return 0
        # Only the subjects without a job cross: the dispatcher asks every few seconds for
        # every mailbox, and nearly all of them have theirs.
        rows = await self.app.connector.execute_query_all_async(
            "SELECT s.subject FROM unnest(%(subjects)s::bigint[]) AS s(subject)"
            " WHERE NOT EXISTS (SELECT 1 FROM procrastinate_jobs AS j"
            " WHERE j.task_name = %(task)s AND j.status IN ('todo', 'doing')"
            " AND (j.args->>%(arg)s)::bigint = s.subject)",
            subjects=sorted(set(subject_ids)),
            task=task,
            arg=arg,
        )
        deferred = 0
        for subject in sorted(row["subject"] for row in rows):
            name = lock(subject)
            with contextlib.suppress(AlreadyEnqueued):
                await self.app.configure_task(task, lock=name, queueing_lock=name).defer_async(
                    **{arg: subject}
                )
                deferred += 1
        return deferred

    async def retry_stalled(self) -> int:
        stalled = await self.app.job_manager.get_stalled_jobs(
            seconds_since_heartbeat=self._timing.stalled_after
        )
        count = 0
        for job in stalled:
            # Each only while still the silent worker's: another worker's look may have put
            # it back first, and a third worker may run it by now.
            try:
                if job.task_name == HOLD_TASK:
                    # A fresh hold job rather than the same one again: the silent worker,
                    # should it wake up after all, sees that its job is gone.
                    if not await self._manager.finish_own_job(job, Status.ABORTED, delete_job=True):
                        continue
                    await self.hand_back(int(str(job.task_kwargs["mailbox_id"])))
                elif not await self._manager.retry_own_job(job):
                    continue
            except Exception as error:  # the database away: the next look tries again
                log.info("stalled job %s not put back: %s", job.id, brief(error))
                continue
            count += 1
        return count
