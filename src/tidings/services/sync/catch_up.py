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

from tidings.domain.errors import MailServerError
from tidings.domain.message import MessageOrigin
from tidings.domain.sync import FolderCursor, SyncMode, chunked, cursor_for, is_unchanged
from tidings.services.departures import Departures
from tidings.services.ports import Clock
from tidings.services.sync.batching import Batch, IngestBatcher, Prepared
from tidings.services.sync.freshly_kept import FreshlyKept
from tidings.services.sync.model import (
    CHUNK_BYTES,
    FolderSession,
    Ingested,
    SyncEvent,
    SyncTarget,
)
from tidings.services.sync.status import SyncStatusBoard
from tidings.services.sync.waiting import retrieve, waiting_mode
from tidings.services.sync.withheld import PassedOver, WithheldMail
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
        chunk_bytes: int = CHUNK_BYTES,
        listener: Callable[[SyncEvent], None] | None = None,
        freshly_kept: FreshlyKept | None = None,
        withheld: WithheldMail | None = None,
        on_passed_over: PassedOver | None = None,
    ) -> None:
        # Folders' fetches are ingested together with what other folders fetch meanwhile.
        self._batches = IngestBatcher(ingest, screen=departures.copies_elsewhere)
        self._clock = clock
        self._status = status
        self._departures = departures
        self._chunk = chunk
        self._chunk_bytes = chunk_bytes
        self._listener = listener
        #: Told what each chunk kept for the first time, for the flag round that follows.
        self._freshly_kept = freshly_kept
        #: Messages the server listed but did not hand over, and the folders finding them.
        self._withheld = withheld or WithheldMail()
        self._on_passed_over = on_passed_over

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
            if first_sync or after_select or self._withheld.troubled(key, status.uidvalidity)
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
            # One message a command through where a fetch failed, to find the one that
            # will not come; chunks bounded in count and bytes after it.
            careful = self._withheld.careful_through(key, status.uidvalidity)
            rest = [uid for uid in uids if uid > careful]
            sizes = await session.sizes(rest) if len(rest) > 1 else {}
            chunks = [[uid] for uid in uids if uid <= careful]
            chunks += chunked(rest, sizes, self._chunk, self._chunk_bytes)

        async def fetch(chunk: list[int]) -> tuple[Prepared | Batch, list[int]]:
            """The chunk's emails, and the UIDs it lacks that the folder still holds: those
            and every email after them wait for another try."""
            withheld: list[int] = []
            if fetched is not None:
                messages = fetched
            else:
                messages = await session.fetch(chunk)
                came = {m.uid for m in messages}
                absent = [uid for uid in chunk if uid not in came]
                if absent:
                    gone = set(await session.missing(absent))
                    withheld = [uid for uid in absent if uid not in gone]
                if withheld:
                    messages = [m for m in messages if m.uid < withheld[0]]
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
            return (self._batches.prepare(batch) if len(chunks) > 1 else batch), withheld

        # The next chunk is fetched while this one is ingested (in a thread): the network
        # and the database work at the same time.
        fetching = asyncio.ensure_future(fetch(chunks[0])) if chunks else None
        for index, chunk in enumerate(chunks):
            assert fetching is not None  # noqa: S101 - one fetch is started per chunk
            try:
                batch, withheld = await fetching
            except MailServerError as error:
                if not error.permanent:  # the connection broke off while the chunk came
                    await self._not_handed_over(target, cursor, chunk, str(error))
                raise
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
                _drop(fetching)
                raise
            if withheld:
                # Everything below the first withheld email is in; it and the rest wait.
                cursor = cursor.advanced_to(withheld[0] - 1)
                await self._status.save_cursor(cursor)
                reason = session.fetch_refusal or "it answered without it"
                cursor = await self._not_handed_over(target, cursor, withheld, reason)
                if cursor.last_uid < max(chunk):
                    if (results or moved) and self._listener is not None:
                        self._listener(Ingested(target, [*results, *moved]))
                    _drop(fetching)
                    raise MailServerError(
                        f"the server did not hand over the email with UID {withheld[0]} "
                        f"({reason}); trying again",
                        permanent=False,
                    )
                # Passed over: the chunk was that one email, and the round goes on.
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
            self._withheld.passed(key, cursor.last_uid)
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

    async def _not_handed_over(
        self, target: SyncTarget, cursor: FolderCursor, uids: list[int], reason: str
    ) -> FolderCursor:
        """The folder holds ``uids`` but the server did not hand them over; every email
        below them is in and ``cursor`` says so. Returns the cursor: moved past the one
        email passed over for good, if it came to that."""
        key = self._key(target)
        passed_over = self._withheld.failed(key, cursor.uidvalidity, uids)
        if passed_over is None:
            return cursor
        log.warning(
            "%s/%s: the email with UID %s is passed over: the server did not hand it over (%s)",
            target.address,
            target.folder,
            passed_over,
            reason,
        )
        cursor = cursor.advanced_to(passed_over)
        await self._status.save_cursor(cursor)
        self._withheld.passed(key, cursor.last_uid)
        if self._on_passed_over is not None:
            await self._on_passed_over(target, f"UID {passed_over}", reason)
        return cursor

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


def _drop(fetching: asyncio.Future[Any] | None) -> None:
    """Cancel the next chunk's fetch, already under way, when this chunk ends the round."""
    if fetching is not None:
        fetching.cancel()
        fetching.add_done_callback(retrieve)
