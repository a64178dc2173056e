"""Storage writes that folders ask for at the same moment, committed in one transaction.

Under a steady flow of pushed mail a thousand folders each finish a round every few seconds,
and each round ends in small writes (its cursor, the category it wrote). Committed one by
one, they cost a transaction (and on SQLite a turn of the write lock) each. Here whatever is
handed over while one commit runs waits, and goes in the next, together. Should a commit of
many fail, each is committed again alone: one folder's fault (its mailbox deleted meanwhile)
fails that folder alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tidings.services.sync.waiting import retrieve

T = TypeVar("T")


@dataclass(eq=False)
class _Handed(Generic[T]):
    item: T
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Together(Generic[T]):
    """Commits what is handed over meanwhile as one call of ``commit`` (in a thread)."""

    def __init__(self, commit: Callable[[list[T]], None]) -> None:
        self._commit = commit
        self._waiting: list[_Handed[T]] = []
        self._running: asyncio.Task[None] | None = None

    async def commit(self, item: T) -> None:
        """Return once ``item`` is committed, with what else was handed over meanwhile."""
        loop = asyncio.get_running_loop()
        if self._running is None or self._running.done() or self._running.get_loop() is not loop:
            self._waiting = []
            self._running = None
        handed = _Handed(item)
        self._waiting.append(handed)
        if self._running is None:
            self._running = asyncio.create_task(self._commit_waiting())
        # A task cancelled while waiting leaves its write to go in: what it writes was
        # earned by work already committed, and its folder's next round starts from either.
        await asyncio.shield(handed.done)

    async def _commit_waiting(self) -> None:
        while self._waiting:
            taken, self._waiting = self._waiting, []
            try:
                await asyncio.to_thread(self._commit, [h.item for h in taken])
            except BaseException as error:
                if not isinstance(error, Exception):  # stopping: nothing more goes in
                    for handed in (*taken, *self._waiting):
                        handed.done.cancel()
                    self._waiting = []
                    raise
                if len(taken) == 1:
                    self._failed(taken[0], error)
                    continue
                for handed in taken:  # one at a time: whose fault was it?
                    try:
                        await asyncio.to_thread(self._commit, [handed.item])
                    except Exception as alone:  # that one alone is told
                        self._failed(handed, alone)
                    else:
                        handed.done.set_result(None)
                continue
            for handed in taken:
                handed.done.set_result(None)

    @staticmethod
    def _failed(handed: _Handed[T], error: BaseException) -> None:
        handed.done.set_exception(error)
        handed.done.add_done_callback(retrieve)  # type: ignore[arg-type]
