"""Catching up an IMAP folder: fetch the UIDs above the cursor, in chunks, and ingest them.

Each chunk's raw bytes are committed by ingest before the cursor moves, so a crash at any
point refetches at most one chunk, and the raw store makes that refetch a no-op. A changed
UIDVALIDITY starts the folder again from UID 1. Where the server offers CONDSTORE, the
HIGHESTMODSEQ that SELECT reported is stored once the catch-up after it commits; an equal
value on the next SELECT skips the search (RFC 7162).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tidings.domain.message import MessageOrigin
from tidings.domain.sync import SyncMode, cursor_for, is_unchanged
from tidings.services.departures import Departures
from tidings.services.ports import Clock
from tidings.services.sync.batching import Batch, IngestBatcher, Prepared
from tidings.services.sync.freshly_kept import FreshlyKept
from tidings.services.sync.model import FolderSession, Ingested, SyncEvent, SyncTarget
from tidings.services.sync.status import SyncStatusBoard
from tidings.services.sync.waiting import retrieve, waiting_mode
from tidings.services.tracking.pipeline import IngestService

log = logging.getLogger(__name__)

#: Emails fetched and ingested per transaction while catching up.
CHUNK = 100


class CatchUp:
    """Ingests what an IMAP folder holds above its cursor, a committed chunk at a time."""

    def __init__(
        self,
        ingest: IngestService,
        clock: Clock,
        status: SyncStatusBoard,
        departures: Departures,
        *,
        chunk: int = CHUNK,
        listener: Callable[[SyncEvent], None] | None = None,
        freshly_kept: FreshlyKept | None = None,
    ) -> None:
        # Folders' fetches are ingested together with what other folders fetch meanwhile.
        self._batches = IngestBatcher(ingest, screen=departures.copies_elsewhere)
        self._clock = clock
        self._status = status
        self._departures = departures
        self._chunk = chunk
        self._listener = listener
        #: Told what each chunk kept for the first time, for the flag round that follows.
        self._freshly_kept = freshly_kept

    async def catch_up(
        self, target: SyncTarget, session: FolderSession, *, after_select: bool = False
    ) -> int:
        """Ingest every message above the cursor; the cursor follows each committed chunk.

        Right after SELECT (``after_select``), a HIGHESTMODSEQ equal to the stored one means
        nothing changed since the last catch-up: no search at all. Once a catch-up after
        SELECT completes, SELECT's HIGHESTMODSEQ is stored with the cursor.
        """
        status = session.status
        key = self._key(target)
        # From memory almost always; storage is read in a thread, where it is needed.
        stored = await self._status.cursor(key)
        if after_select and is_unchanged(stored, status):
            log.debug(
                "%s/%s unchanged since HIGHESTMODSEQ %s: nothing to fetch",
                target.address,
                target.folder,
                status.highest_modseq,
            )
            session.caught_up_at(session.counts())
            await self._caught_up(target, session)
            return 0
        cursor = cursor_for(stored, target.mailbox_id, target.folder, status)
        first_sync = stored is None or stored.uidvalidity != status.uidvalidity
        since = target.profile.process_email_received_after if first_sync else None
        # A push's few new emails are fetched at once where the session's counts allow:
        # no search first, one command less each.
        counts = session.counts()
        fetched = (
            None
            if first_sync or after_select
            else await session.fetch_new(cursor.last_uid, self._chunk)
        )
        if fetched is not None:
            uids = [message.uid for message in fetched]
        else:
            uids = await session.uids_after(cursor.last_uid, since)
        if first_sync or len(uids) > self._chunk:
            total = len(uids) if first_sync else None
            await self._record(
                target,
                mode=SyncMode.CATCHING_UP,
                backlog=len(uids),
                first_sync_done=0 if first_sync else None,
                first_sync_total=total,
            )
        received_after = target.profile.process_email_received_after
        done = 0
        if fetched is not None:  # fetched already: one chunk, whatever its size
            chunks = [uids] if uids else []
        else:
            chunks = [uids[i : i + self._chunk] for i in range(0, len(uids), self._chunk)]

        async def fetch(chunk: list[int]) -> Prepared | Batch:
            messages = fetched if fetched is not None else await session.fetch(chunk)
            batch = [
                (
                    m.raw,
                    MessageOrigin(target.mailbox_id, target.folder, status.uidvalidity, str(m.uid)),
                )
                for m in messages
                if not (
                    first_sync
                    and received_after
                    and m.internal_date
                    and m.internal_date < received_after
                )
            ]
            # With chunks still to come, its header blocks are read while the chunk before
            # is being ingested; a chunk alone (a push) is read with the folders' batch.
            return self._batches.prepare(batch) if len(chunks) > 1 else batch

        # The next chunk is fetched while this one is ingested (in a thread): the network
        # and the database work at the same time.
        fetching = asyncio.ensure_future(fetch(chunks[0])) if chunks else None
        for index, chunk in enumerate(chunks):
            assert fetching is not None  # noqa: S101 - one fetch is started per chunk
            batch = await fetching
            following = chunks[index + 1] if index + 1 < len(chunks) else None
            fetching = asyncio.ensure_future(fetch(following)) if following else None
            try:
                ingested = await self._batches.ingest_screened(batch)
                results = ingested.results
                if self._freshly_kept is not None:
                    emails = batch.emails if isinstance(batch, Prepared) else batch
                    self._freshly_kept.note([origin for _, origin in emails], results)
                # An email kept in another folder too may be the arriving half of a move.
                moved = (
                    await asyncio.to_thread(
                        self._departures.arrived, target.mailbox_id, sorted(ingested.elsewhere)
                    )
                    if ingested.elsewhere
                    else []
                )
            except BaseException:
                if fetching is not None:
                    fetching.cancel()
                    fetching.add_done_callback(retrieve)  # type: ignore[arg-type]
                raise
            cursor = cursor.advanced_to(max(chunk))
            last = following is None
            if last and after_select:
                cursor = replace(cursor, highest_modseq=status.highest_modseq)
            passed = sum(len(c) for c in chunks[: index + 1])
            if last:
                self._mark_caught_up(key, session)
            else:
                self._status.change(
                    key,
                    backlog=len(uids) - passed,
                    first_sync_done=passed if first_sync else None,
                )
            await self._status.save_cursor(cursor)
            done += len(results)
            if (results or moved) and self._listener is not None:
                self._listener(Ingested(target, [*results, *moved]))
        if not chunks:
            if first_sync and since is not None and status.uidnext is not None:
                # Mail older than "process email received after" is passed over for good:
                # every UID below UIDNEXT existed at SELECT, and SINCE left out the old ones.
                cursor = cursor.advanced_to(status.uidnext - 1)
            if after_select:
                cursor = replace(cursor, highest_modseq=status.highest_modseq)
            if first_sync or cursor != stored:
                self._mark_caught_up(key, session)
                await self._status.save_cursor(cursor)
            else:
                await self._caught_up(target, session)
        elif first_sync and since is not None and status.uidnext is not None:
            cursor = cursor.advanced_to(status.uidnext - 1)
            await self._status.save_cursor(cursor)
        session.caught_up_at(counts)
        return done

    def _mark_caught_up(self, key: tuple[int, str], session: FolderSession) -> None:
        self._status.change(
            key,
            mode=waiting_mode(session),
            backlog=0,
            checked_at=self._clock.now(),
            first_sync_done=None,
            first_sync_total=None,
            last_error=None,
        )

    async def _caught_up(self, target: SyncTarget, session: FolderSession) -> None:
        self._mark_caught_up(self._key(target), session)
        await self._record(target)

    async def _record(self, target: SyncTarget, **changes: Any) -> None:
        await self._status.record(self._key(target), **changes)

    @staticmethod
    def _key(target: SyncTarget) -> tuple[int, str]:
        return (target.mailbox_id, target.folder)
