"""Parsing email off the main process: the CPU-heavy, pure part of ingest, on every core.

Deciding and recording need the database and stay in one process; reading MIME is pure and
costs more than everything else together, so it runs in a pool of worker processes while
the main process works on the database. ``InlineParser`` does the same work in-process, for
one-core machines and short-lived commands.
"""

from __future__ import annotations

import functools
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import forkserver, resource_tracker
from typing import TYPE_CHECKING

from tidings.adapters.parse_scheduler import StealingScheduler, Task
from tidings.adapters.process_lifetime import tie_to
from tidings.domain.message import (
    HeaderSummary,
    ParsedEmail,
    parse_email,
    split_header_block,
    try_parse_headers,
)

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from typing_extensions import override
else:  # the forkserver preloads this module: parse processes hold only what parsing needs

    def override(method):  # noqa: ANN001, ANN201
        return method


def _start_worker(main_pid: int) -> None:
    # Ctrl-C reaches the whole process group; the parent shuts the pool down in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # But if the parent is killed outright, nothing shuts the pool down: the worker goes too.
    tie_to(main_pid)


#: Seconds without parsing after which the parse processes stop.
IDLE_SECONDS = 60.0
#: Seconds before trying again to start parse processes that failed to start.
RETRY_SECONDS = 60.0


class InlineParser:
    """Parses in the calling process, when the result is asked for."""

    def start_headers_many(self, raws: Sequence[bytes]) -> Callable[[], list[HeaderSummary | None]]:
        return lambda: [try_parse_headers(raw) for raw in raws]

    def start_email(self, raw: bytes) -> Callable[[], ParsedEmail]:
        return lambda: parse_email(raw)

    def start_emails(self, raws: Sequence[bytes]) -> list[Callable[[], ParsedEmail]]:
        return [self.start_email(raw) for raw in raws]

    def warm_up(self) -> None:
        """Nothing to start."""

    def close(self) -> None:
        """Nothing to release."""


class ProcessPoolParser:
    """Parses in ``workers`` processes; results are awaited only when needed.

    Whole emails go before header blocks (``parse_scheduler``). The main process waits for
    results rather than parse: with a worker per core it would only take a core from them,
    and it alone records what they parse.

    The processes run only while there is parsing to do: the pool starts, in the background,
    with the first work, and stops with its forkserver and resource tracker after
    ``idle_seconds`` without any (never, if 0). A worker that holds 1,000 idle mailboxes
    would otherwise keep four processes and their memory for nothing. Until the pool is up,
    whoever asks for a result parses it in its own thread, so no email waits for it.
    """

    def __init__(self, workers: int, *, idle_seconds: float = IDLE_SECONDS) -> None:
        self._workers = workers
        self._idle_seconds = idle_seconds
        # Tasks are handed over only while the main process submits or waits: enough of them
        # that no worker runs dry while it writes a batch to the database.
        self._scheduler = StealingScheduler(
            None, in_flight=_TASKS_PER_WORKER * workers, caller_helps=False
        )
        self._pool: ProcessPoolExecutor | None = None
        self._starting = False
        self._closed = False
        self._retry_at = 0.0
        self._last_work = time.monotonic()
        #: Held to start or stop the pool: one at a time, never both.
        self._life = threading.Lock()
        self._state = threading.Lock()
        self._wake_reaper = threading.Event()

    @property
    def running(self) -> bool:
        """Whether the parse processes are up."""
        return self._pool is not None

    def _wanted(self) -> None:
        """Note work arriving; start the pool in the background if it is down."""
        if self._claim_start():
            threading.Thread(target=self._start, name="parse-pool-start", daemon=True).start()

    def _claim_start(self) -> bool:
        with self._state:
            self._last_work = time.monotonic()
            if self._pool is not None or self._starting or self._closed:
                return False
            if time.monotonic() < self._retry_at:
                return False
            self._starting = True
            return True

    def _start(self) -> None:
        with self._life:
            pool = None
            try:
                if not self._closed:
                    pool = _started_pool(self._workers)
            except Exception:
                log.exception("the parse processes did not start: parsing stays in this process")
                with self._state:
                    self._retry_at = time.monotonic() + RETRY_SECONDS
            finally:
                with self._state:
                    self._starting = False
                    self._pool = pool
                    # Idle from now: a start slower than the idle time must not stop at once.
                    self._last_work = time.monotonic()
            if pool is None:
                return
            self._scheduler.attach(pool)
        if self._idle_seconds > 0:
            reaper = threading.Thread(target=self._reap_when_idle, name="parse-reaper", daemon=True)
            reaper.start()

    def _reap_when_idle(self) -> None:
        """Stop the pool once it has had no work for ``idle_seconds``."""
        while not self._closed:
            with self._state:
                due = self._last_work + self._idle_seconds - time.monotonic()
            if due > 0:
                self._wake_reaper.wait(due)
                continue
            with self._life:
                with self._state:
                    if self._closed or self._last_work + self._idle_seconds > time.monotonic():
                        continue  # closed, or work came meanwhile
                    pool = self._scheduler.detach()
                    if pool is None:  # tasks still out: look again later
                        self._last_work = time.monotonic()
                        continue
                    self._pool = None
                _stop(pool)
                return

    def start_headers_many(self, raws: Sequence[bytes]) -> Callable[[], list[HeaderSummary | None]]:
        # Only the header blocks travel, a batch's in one task per worker: every task costs
        # the main process wake-ups of the pool's threads, each a wait for the interpreter
        # on a busy machine, and a batch that could not be read ahead is waited for.
        blocks = [split_header_block(raw) for raw in raws]
        self._wanted()
        size = max(1, -(-len(blocks) // self._workers))
        tasks = [
            self._scheduler.submit(_headers_of, blocks[i : i + size], urgent=False)
            for i in range(0, len(blocks), size)
        ]
        return lambda: [h for task in tasks for h in self._scheduler.result(task)]

    def start_email(self, raw: bytes) -> Callable[[], ParsedEmail]:
        return self.start_emails([raw])[0]

    def start_emails(self, raws: Sequence[bytes]) -> list[Callable[[], ParsedEmail]]:
        # A few emails per task: each task costs the main process a wake-up of the pool's
        # threads, which, at one per email, cost more than deciding the email.
        size = _EMAILS_PER_TASK
        self._wanted()
        handles: list[Callable[[], ParsedEmail]] = []
        for start in range(0, len(raws), size):
            task = self._scheduler.submit(_emails_of, list(raws[start : start + size]), urgent=True)
            handles += [functools.partial(self._one, task, i) for i in range(len(task.arg))]
        return handles

    def _one(self, task: Task[list[bytes], list[ParsedEmail | _Failed]], index: int) -> ParsedEmail:
        found = self._scheduler.result(task)[index]
        if isinstance(found, _Failed):
            raise found.error from _RemoteTraceback(found.traceback)
        return found

    def warm_up(self) -> None:
        """Start the processes now rather than with the first email; returns once they are
        up (or, if another thread is starting them, once it is done)."""
        if self._claim_start():
            self._start()
        with self._life:
            pass

    def close(self) -> None:
        with self._state:
            self._closed = True
        self._wake_reaper.set()
        with self._life:
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.shutdown(cancel_futures=True)
                _stop_helpers()


def _started_pool(workers: int) -> ProcessPoolExecutor:
    """A pool whose processes are up: started here, not by the first task handed over, which
    the event loop may hand (starting the forkserver takes a fraction of a second)."""
    # forkserver: never fork a process that may hold threads (the web server's pool).
    context = multiprocessing.get_context("forkserver")
    # The server imports this module (and so the parser) once, and each worker forks from
    # it; by default it would import the parent's whole ``__main__`` instead.
    context.set_forkserver_preload([__name__])
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(os.getpid(),),
    )
    try:
        list(pool.map(try_parse_headers, [b""] * workers))
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    return pool


def _stop(pool: Executor) -> None:
    pool.shutdown(wait=True)  # lets go of the pool's queues, and their semaphores
    _stop_helpers()


def _stop_helpers() -> None:
    """Stop multiprocessing's forkserver and resource tracker, which would otherwise stay
    for the rest of the process; either starts again when next needed.

    Both ``_stop`` methods are private (the standard library's tests call them), so each is
    looked for. The pool's queues are collected first: their semaphores tell the tracker
    they are gone as they go, which would start it again.
    """
    gc.collect()
    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        stop = getattr(helper, "_stop", None)
        if stop is not None:
            stop()


def _headers_of(blocks: list[bytes]) -> list[HeaderSummary | None]:
    return [try_parse_headers(block) for block in blocks]


#: At most this many emails travel in one task: few enough that a result is not held up.
_EMAILS_PER_TASK = 8
#: Tasks in the pool at a time, per worker: a batch's worth, so that none waits to be handed
#: over while the main process works on the database.
_TASKS_PER_WORKER = 16


@dataclass(frozen=True)
class _Failed:
    """Why one email of a task could not be parsed; the others are parsed regardless."""

    error: Exception
    traceback: str


class _RemoteTraceback(Exception):
    """Where parsing failed in the worker, as the ``__cause__`` of the error re-raised."""

    @override
    def __str__(self) -> str:
        return f"\n{self.args[0]}"


def _emails_of(raws: list[bytes]) -> list[ParsedEmail | _Failed]:
    return [_email_or_failure(raw) for raw in raws]


def _email_or_failure(raw: bytes) -> ParsedEmail | _Failed:
    try:
        return parse_email(raw)
    except Exception as error:
        try:
            pickle.dumps(error)
        except Exception:  # an exception that cannot travel back: its words can
            error = RuntimeError(f"{type(error).__name__}: {error}")
        return _Failed(error, traceback.format_exc())
