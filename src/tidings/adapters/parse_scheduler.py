"""Handing parse work to worker processes so that no core waits while work is queued.

Two things a plain process pool does badly for ingest:

* it runs work first come, first served, so the whole email the main process needs *now*
  waits behind the header blocks of the next batch, queued earlier to be ready later;
* the main process sits idle while it waits for a result, on a machine with few cores.

So only a few tasks are in the pool at a time, urgent ones (whole emails) go before later
ones (header blocks), and a main process about to wait may run queued work itself: the task
it needs if nobody started it, otherwise the last one queued, which is needed last. That
pays only where a core would otherwise idle: with a worker on every core, the main process
is the one that holds everything up (it alone writes to the database), so it waits instead.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Generic, TypeVar

T = TypeVar("T")
A = TypeVar("A")


class Task(Generic[A, T]):
    """One piece of work: ``fn(arg)``, run by a worker or by whoever waits for it."""

    def __init__(self, fn: Callable[[A], T], arg: A) -> None:
        self.fn = fn
        self.arg = arg
        #: Set once the task is handed to the pool; unset while it may still be stolen.
        self.future: Future[T] | None = None
        self._stolen: tuple[T | None, BaseException | None] | None = None

    def run_here(self) -> None:
        try:
            self._stolen = (self.fn(self.arg), None)
        except Exception as error:  # re-raised by result(), like a future does
            self._stolen = (None, error)

    def is_done(self) -> bool:
        return self._stolen is not None or (self.future is not None and self.future.done())

    def outcome(self) -> T:
        if self._stolen is not None:
            value, error = self._stolen
            if error is not None:
                raise error
            return value  # type: ignore[return-value]
        assert self.future is not None  # noqa: S101 - waited for only once handed over
        return self.future.result()


class StealingScheduler:
    """Feeds ``executor`` at most ``in_flight`` tasks; urgent ones first; the caller helps
    unless told not to (``caller_helps``).

    Tasks are submitted from the event loop (a fetched batch's header blocks, read ahead)
    and from the thread that ingests; the lock keeps the queues whole between them. Tasks
    are handed over when submitted and when a result is asked for, never from the pool's
    own threads.
    """

    def __init__(self, executor: Executor, in_flight: int, *, caller_helps: bool = True) -> None:
        self._executor = executor
        self._in_flight = in_flight
        self._caller_helps = caller_helps
        self._urgent: deque[Task[object, object]] = deque()
        self._later: deque[Task[object, object]] = deque()
        self._handed: list[Task[object, object]] = []
        self._lock = threading.Lock()

    def submit(self, fn: Callable[[A], T], arg: A, *, urgent: bool) -> Task[A, T]:
        task: Task[A, T] = Task(fn, arg)
        with self._lock:
            (self._urgent if urgent else self._later).append(task)  # type: ignore[arg-type]
        self._hand_over()
        return task

    def result(self, task: Task[A, T]) -> T:
        """The task's result, working on queued tasks meanwhile rather than waiting if the
        caller helps."""
        while not task.is_done():
            stolen = self._steal(task) if self._caller_helps else None
            if stolen is not None:
                stolen.run_here()
            elif task.future is not None:
                break  # it is in the pool: wait for it
            else:  # queued behind a full pool: wait for a place
                wait([t.future for t in self._handed if t.future], return_when=FIRST_COMPLETED)
            self._hand_over()
        self._hand_over()
        return task.outcome()

    def _steal(self, wanted: Task[A, T]) -> Task[object, object] | None:
        with self._lock:
            for queue in (self._urgent, self._later):
                if wanted in queue:
                    queue.remove(wanted)  # type: ignore[arg-type]
                    return wanted  # type: ignore[return-value]
            for queue in (self._urgent, self._later):
                if queue:
                    return queue.pop()
        return None

    def _hand_over(self) -> None:
        with self._lock:
            self._handed = [t for t in self._handed if not t.is_done()]
            while len(self._handed) < self._in_flight and (self._urgent or self._later):
                task = (self._urgent or self._later).popleft()
                task.future = self._executor.submit(task.fn, task.arg)
                self._handed.append(task)
