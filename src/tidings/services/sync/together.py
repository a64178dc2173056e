"""Storage work that folders ask for at the same moment, done in one transaction.

Under a steady flow of pushed mail a thousand folders each finish a round every few seconds,
and each round ends in small pieces of storage work (commit its cursor, record the category
it wrote, read what category to write). Done one by one, they cost a transaction (and on
SQLite a turn of the write lock) each. Here whatever is handed over while one transaction
runs waits, and goes in the next, together, and each folder gets its own result back.
Should a transaction of many fail, each is done again alone: one folder's fault (its
mailbox deleted meanwhile) fails that folder alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tidings.services.sync.waiting import retrieve

T = TypeVar("T")
R = TypeVar("R")


@dataclass(eq=False)
class _Handed(Generic[T, R]):
    item: T
    done: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Together(Generic[T, R]):
    """Does what is handed over meanwhile as one call of ``work`` (in a thread), which
    returns each item's result in the items' order."""

    def __init__(self, work: Callable[[list[T]], list[R]]) -> None:
        self._work = work
        self._waiting: list[_Handed[T, R]] = []
        self._running: asyncio.Task[None] | None = None

    async def run(self, item: T) -> R:
        """``item``'s result, once done with what else was handed over meanwhile."""
        loop = asyncio.get_running_loop()
        if self._running is None or self._running.done() or self._running.get_loop() is not loop:
            self._waiting = []
            self._running = None
        handed: _Handed[T, R] = _Handed(item)
        self._waiting.append(handed)
        if self._running is None:
            self._running = asyncio.create_task(self._run_waiting())
        # A task cancelled while waiting leaves its work to be done: what it writes was
        # earned by work already committed, and its folder's next round starts from either.
        return await asyncio.shield(handed.done)

    async def _run_waiting(self) -> None:
        while self._waiting:
            taken, self._waiting = self._waiting, []
            try:
                results = await asyncio.to_thread(self._work, [h.item for h in taken])
            except BaseException as error:
                if not isinstance(error, Exception):  # stopping: nothing more is done
                    for handed in (*taken, *self._waiting):
                        handed.done.cancel()
                    self._waiting = []
                    raise
                if len(taken) == 1:
                    self._failed(taken[0], error)
                    continue
                for handed in taken:  # one at a time: whose fault was it?
                    try:
                        [result] = await asyncio.to_thread(self._work, [handed.item])
                    except Exception as alone:  # that one alone is told
                        self._failed(handed, alone)
                    else:
                        handed.done.set_result(result)
                continue
            for handed, result in zip(taken, results, strict=True):
                handed.done.set_result(result)

    @staticmethod
    def _failed(handed: _Handed[T, R], error: BaseException) -> None:
        handed.done.set_exception(error)
        handed.done.add_done_callback(retrieve)  # type: ignore[arg-type]
