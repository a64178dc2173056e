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

The pool may come and go (``attach``, ``detach``): while there is none, whoever asks for a
result runs its task itself.
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
        self._ran = threading.Event()

    def run_here(self) -> None:
        try:
            self._stolen = (self.fn(self.arg), None)
        except Exception as error:  # re-raised by result(), like a future does
            self._stolen = (None, error)
        finally:
            self._ran.set()

    def wait_run_elsewhere(self) -> None:
        """Wait for another thread that took this task to run it."""
        self._ran.wait()

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

    def __init__(
        self, executor: Executor | None, in_flight: int, *, caller_helps: bool = True
    ) -> None:
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

    def attach(self, executor: Executor) -> None:
        """Hand queued tasks to ``executor`` from now on."""
        with self._lock:
            self._executor = executor
        self._hand_over()

    def detach(self) -> Executor | None:
        """The executor, no longer used, if it has nothing of ours to run; else None and
        it stays."""
        with self._lock:
            self._handed = [t for t in self._handed if not t.is_done()]
            if self._handed or self._urgent or self._later:
                return None
            executor, self._executor = self._executor, None
            return executor

    def result(self, task: Task[A, T]) -> T:
        """The task's result, working on queued tasks meanwhile rather than waiting if the
        caller helps, and running it here while there is no pool."""
        while not task.is_done():
            stolen = self._steal(task)
            if stolen is not None:
                stolen.run_here()
            elif task.future is not None:
                break  # it is in the pool: wait for it
            elif not self._queued(task):  # another thread took it to run itself
                task.wait_run_elsewhere()
            else:  # queued behind a full pool: wait for a place
                wait([t.future for t in self._handed if t.future], return_when=FIRST_COMPLETED)
            self._hand_over()
        self._hand_over()
        return task.outcome()

    def _queued(self, task: Task[A, T]) -> bool:
        with self._lock:
            return task in self._urgent or task in self._later

    def _steal(self, wanted: Task[A, T]) -> Task[object, object] | None:
        """The task asked for if the caller may run it, else the last one queued if the
        caller helps, else nothing."""
        with self._lock:
            if self._caller_helps or self._executor is None:
                for queue in (self._urgent, self._later):
                    if wanted in queue:
                        queue.remove(wanted)  # type: ignore[arg-type]
                        return wanted  # type: ignore[return-value]
            if self._caller_helps:
                for queue in (self._urgent, self._later):
                    if queue:
                        return queue.pop()
        return None

    def _hand_over(self) -> None:
        with self._lock:
            self._handed = [t for t in self._handed if not t.is_done()]
            if self._executor is None:
                return
            while len(self._handed) < self._in_flight and (self._urgent or self._later):
                task = (self._urgent or self._later).popleft()
                task.future = self._executor.submit(task.fn, task.arg)
                self._handed.append(task)
