"""Parsing email off the main process: the CPU-heavy, pure part of ingest, on every core.

Deciding and recording need the database and stay in one process; reading MIME is pure and
costs more than everything else together, so it runs in a pool of worker processes while
the main process works on the database. ``InlineParser`` does the same work in-process, for
one-core machines and short-lived commands.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import pickle
import signal
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
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
    """

    def __init__(self, workers: int) -> None:
        # forkserver: never fork a process that may hold threads (the web server's pool).
        context = multiprocessing.get_context("forkserver")
        # The server imports this module (and so the parser) once, and each worker forks
        # from it; by default it would import the parent's whole ``__main__`` instead.
        context.set_forkserver_preload([__name__])
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_start_worker,
            initargs=(os.getpid(),),
        )
        self._workers = workers
        # Tasks are handed over only while the main process submits or waits: enough of them
        # that no worker runs dry while it writes a batch to the database.
        self._scheduler = StealingScheduler(
            self._pool, in_flight=_TASKS_PER_WORKER * workers, caller_helps=False
        )

    def start_headers_many(self, raws: Sequence[bytes]) -> Callable[[], list[HeaderSummary | None]]:
        # Only the header blocks travel, a batch's in one task per worker: every task costs
        # the main process wake-ups of the pool's threads, each a wait for the interpreter
        # on a busy machine, and a batch that could not be read ahead is waited for.
        blocks = [split_header_block(raw) for raw in raws]
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
        """Start every worker now rather than on the first email (they import on start)."""
        list(self._pool.map(try_parse_headers, [b""] * self._workers))

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


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
