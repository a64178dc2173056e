"""The sync worker's account of each folder, kept in storage for the API and the CLI to read.

The worker and the readers are different processes, so the state lives in the database.
It is written when something a reader cares about changes (mode, backlog, progress, error),
inside the cursor's own transaction where there is one, and otherwise at most once a minute
for a folder that is merely found unchanged again.

A folder's cursor is written only here, by the one task that syncs the folder: so what this
board last read or wrote of it is what storage holds, and a round reads it from memory
rather than in a transaction of its own each time (a pushed email's round read it five
times). A task forgets it as it connects (``reread_cursor``): the folder may have been
synced elsewhere meanwhile.

What folders write at the same moment (their cursors and states, and the emails their flag
rounds wrote the tracked category on) is committed together, in one transaction
(``together``), the category marks of them all in one statement: under a steady flow of
pushed mail, a thousand folders would otherwise each commit their cursor twice a round.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from tidings.domain.sync import FolderCursor, FolderSyncState, SyncMode, WorkerBeat
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.sync.together import Together

log = logging.getLogger(__name__)

Key = tuple[int, str]
#: Emails a flag round wrote the tracked category on, each with its read state as written
#: (None: as its mark had it).
Written = Sequence[tuple[int, bool | None]]
#: A folder's write: its key, its cursor where it moved, and what its round wrote on.
_Write = tuple[Key, FolderCursor | None, Written]

#: A folder found caught up again, with nothing else changed, is recorded this often.
CHECK_EVERY = timedelta(seconds=60)


class SyncStatusBoard:
    """Each folder task's current state, and what of it is already stored."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        *,
        reads: Callable[[], UnitOfWork] | None = None,
        record_written: Callable[[UnitOfWork, Written], None] | None = None,
    ) -> None:
        """``record_written``: keeps, in the caller's transaction, the marks of emails
        written on (``CategoryTracking.record_written_in``)."""
        self._uow = uow_factory
        self._reads = reads or uow_factory
        self._clock = clock
        self._states: dict[Key, FolderSyncState] = {}
        self._saved: dict[Key, FolderSyncState] = {}
        #: Each folder's cursor as last read or committed here (None: the folder has none).
        self._cursors: dict[Key, FolderCursor | None] = {}
        self._record_written = record_written
        #: (folder, its cursor where it moved, what its round wrote on) of folders writing
        #: at the same moment.
        self._writes: Together[_Write, None] = Together(self._commit)

    @property
    def modes(self) -> dict[Key, SyncMode]:
        return {key: state.mode for key, state in self._states.items()}

    def get(self, key: Key) -> FolderSyncState | None:
        return self._states.get(key)

    def change(self, key: Key, **changes: Any) -> FolderSyncState:
        """The folder's state with ``changes`` applied (kept in memory only)."""
        now = self._clock.now()
        current = self._states.get(key) or FolderSyncState(key[0], key[1], SyncMode.CONNECTING, now)
        state = replace(current, updated_at=now, **changes)
        self._states[key] = state
        return state

    def is_news(self, key: Key) -> bool:
        """Whether the folder's state differs from the stored one in a way worth a write."""
        state, saved = self._states[key], self._saved.get(key)
        if saved is None:
            return True
        if replace(saved, updated_at=state.updated_at, checked_at=state.checked_at) != state:
            return True
        if state.checked_at is None:
            return False
        return saved.checked_at is None or state.checked_at - saved.checked_at >= CHECK_EVERY

    async def record(self, key: Key, **changes: Any) -> None:
        """Apply ``changes`` to the folder's state and store it if readers would see news."""
        self.change(key, **changes)
        if not self.is_news(key):
            return
        try:
            await self._writes.run((key, None, ()))
        except Exception:  # the state is for people to read: sync goes on without it
            log.exception("the sync state of %s/%s was not stored", *key)

    def forget(self, key: Key) -> None:
        """The folder is no longer synced: drop its state here and in storage."""
        self._states.pop(key, None)
        self._saved.pop(key, None)
        self._cursors.pop(key, None)
        with self._uow() as uow:
            uow.sync.forget_state(*key)
            uow.commit()

    def beat(self, worker_id: str, started_at: datetime) -> None:
        """Tell readers this worker is alive; its folder states can be trusted."""
        now = self._clock.now()
        beat = WorkerBeat(worker_id, socket.gethostname(), os.getpid(), started_at, now)
        with self._uow() as uow:
            uow.sync.beat(beat)
            uow.commit()

    def forget_worker(self, worker_id: str) -> None:
        """A worker stopping says so at once rather than falling silent."""
        with self._uow() as uow:
            uow.sync.forget_worker(worker_id)
            uow.commit()

    async def cursor(self, key: Key) -> FolderCursor | None:
        """The folder's cursor: from memory where this board knows it, else read in a
        thread. A round asks several times, and a hop to a thread for what is in memory
        would queue behind the database work of every other folder."""
        try:
            return self._cursors[key]
        except KeyError:
            return await asyncio.to_thread(self.stored_cursor, key)

    def stored_cursor(self, key: Key) -> FolderCursor | None:
        if key not in self._cursors:
            with self._reads() as uow:
                self._cursors[key] = uow.cursors.get(*key)
        return self._cursors[key]

    def reread_cursor(self, key: Key) -> None:
        """Read the folder's cursor from storage next time: it may have moved elsewhere."""
        self._cursors.pop(key, None)

    async def save_cursor(self, cursor: FolderCursor, *, written: Written = ()) -> None:
        """Commit the cursor with the folder's state; only after the raw bytes are in.

        ``written``: the emails the folder's flag round wrote the category on, recorded in
        the same transaction as the MODSEQ that round reached. Committed with what other
        folders write meanwhile; returns once it is."""
        await self._writes.run(((cursor.mailbox_id, cursor.folder), cursor, written))

    async def commit_written(self, key: Key, written: Written) -> None:
        """Record ``written`` with what other folders write meanwhile (and this folder's
        state, if readers would see news); returns once it is."""
        await self._writes.run((key, None, written))

    def _commit(self, writes: list[_Write]) -> list[None]:
        cursors = {key: cursor for key, cursor, _ in writes if cursor is not None}
        # A folder no longer synced (``forget``) is not written back, nor a state readers
        # already have (a pushed email's round moves the cursor, rarely the state).
        states = {
            key: self._states[key]
            for key, _, _ in writes
            if key in self._states and self.is_news(key)
        }
        written = [email for _, _, wrote in writes for email in wrote]
        with self._uow() as uow:
            if written:
                if self._record_written is None:
                    raise TypeError("this board was given nowhere to record the category")
                self._record_written(uow, written)
            uow.cursors.save_many(list(cursors.values()), self._clock.now())
            uow.sync.save_states(list(states.values()))
            # Forgotten until committed: a failed commit leaves storage's to be read again.
            for key in cursors:
                self._cursors.pop(key, None)
            uow.commit()
        self._saved.update(states)
        self._cursors.update(cursors)
        return [None] * len(writes)
