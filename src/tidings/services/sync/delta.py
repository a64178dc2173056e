"""One round of a folder reached through a mail API: ask what changed since the cursor,
ingest what the raw store lacks, then move the cursor.

Microsoft Graph (delta query), Gmail (history) and Exchange Web Services (SyncFolderItems)
all hand out an opaque cursor and, given it back, the messages added since. The round::

    cursor ──changes()──▶ page: ids + next cursor ──fetch, ingest, commit──▶ save next cursor
       ▲                                  │ more pages: ask again at once
       └── CursorExpiredError: drop it ◀──┘ (read the folder again from the start)

A message is named for good by its vendor id, so the raw store's origins say which ids are
already taken: a cursor lost, expired or rolled back re-reads the folder without fetching,
let alone tracking, anything twice. The cursor moves only after every message of its page is
committed, so a crash at any point loses nothing. The ids a page reports removed left the
folder: ``Departures`` carries that (and the other half of a move) to the activity.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from tidings.domain.errors import CursorExpiredError
from tidings.domain.mail_api import DeltaPage
from tidings.domain.message import MessageOrigin
from tidings.domain.sync import FolderCursor, SyncMode
from tidings.services.departures import Departures
from tidings.services.sync.categories import ApiCategories
from tidings.services.sync.folder_round import FolderRound, withheld_error
from tidings.services.sync.model import (
    API_UIDVALIDITY,
    DeltaSession,
    Ingested,
    SyncTarget,
)
from tidings.services.tracking.results import IngestResult

log = logging.getLogger(__name__)


class DeltaRound(FolderRound):
    """Brings one mail-API folder up to date, recording its progress."""

    #: Reads and writes the tracked category (none: categories are left alone).
    categories: ApiCategories | None = None
    #: Carries what left the folder, and what arrived from another, to the activity.
    departures: Departures | None = None

    async def catch_up(self, target: SyncTarget, session: DeltaSession) -> int:
        """Ingest every message the folder gained since its cursor; returns how many."""
        key = (target.mailbox_id, target.folder)
        stored = await self._status.cursor(key)
        token = stored.token if stored is not None else None
        try:
            return await self._pages(target, session, token)
        except CursorExpiredError as error:
            log.info("%s/%s: %s; reading the folder again", target.address, target.folder, error)
            return await self._pages(target, session, None)

    async def _pages(self, target: SyncTarget, session: DeltaSession, token: str | None) -> int:
        key = (target.mailbox_id, target.folder)
        first_sync = token is None
        received_after = target.profile.process_email_received_after if first_sync else None
        done = 0
        while True:
            page = await session.changes(token, received_after)
            origins = {key: self._origin(target, key) for key in dict.fromkeys(page.added)}
            new = await asyncio.to_thread(self._not_yet_stored, origins)
            results: list[IngestResult] = []
            fetched_categories: dict[str, tuple[str, ...]] = {}
            withheld: dict[str, str] = {}
            for first in range(0, len(new), self._chunk):
                await self._status.record(
                    key, mode=SyncMode.CATCHING_UP, backlog=len(new) - first, last_error=None
                )
                messages = await session.fetch(new[first : first + self._chunk])
                withheld.update(session.withheld)
                fetched_categories.update(
                    (m.id, m.categories) for m in messages if m.categories is not None
                )
                batch = [
                    (message.raw, self._origin(target, message.id))
                    for message in messages
                    if not (
                        received_after
                        and message.received_at
                        and message.received_at < received_after
                    )
                ]
                if batch:
                    results += await asyncio.to_thread(self._ingest.ingest_batch, batch)
            done += len(results)
            if self.departures is not None:
                kept = [r.raw_message_id for r in results if not r.repeated]
                results += await asyncio.to_thread(self.departures.arrived, target.mailbox_id, kept)
                if page.added:  # a page names a message's last state: back first, then gone
                    results += await asyncio.to_thread(
                        self.departures.returned, *key, API_UIDVALIDITY, list(page.added)
                    )
                if page.removed:
                    results += await asyncio.to_thread(
                        self.departures.departed, *key, API_UIDVALIDITY, list(page.removed)
                    )
            if self.categories is not None:
                await self.categories.read(target, _with_fetched(page, fetched_categories))
                if not page.more:
                    await self.categories.write(target, session)
            if withheld and (waiting := await self._count_withheld(target, withheld)):
                if results and self._listener is not None:
                    self._listener(Ingested(target, results))
                raise withheld_error(waiting)
            token = page.cursor
            cursor = FolderCursor(target.mailbox_id, target.folder, API_UIDVALIDITY, token=token)
            if not page.more:
                self._status.change(
                    key,
                    mode=SyncMode.IDLE if session.supports_push else SyncMode.POLLING,
                    backlog=0,
                    checked_at=self._clock.now(),
                    first_sync_done=None,
                    first_sync_total=None,
                    last_error=None,
                )
            else:
                self._status.change(key, mode=SyncMode.CATCHING_UP)
            await self._status.save_cursor(cursor)
            if self.withheld is not None:
                self.withheld.items_passed(key)
            # Listeners hear of a page once its cursor and the state it leaves are stored.
            if results and self._listener is not None:
                self._listener(Ingested(target, results))
            if not page.more:
                return done

    @staticmethod
    def _origin(target: SyncTarget, message_id: str) -> MessageOrigin:
        return MessageOrigin(target.mailbox_id, target.folder, API_UIDVALIDITY, message_id)


def _with_fetched(page: DeltaPage, fetched: dict[str, tuple[str, ...]]) -> DeltaPage:
    """The page's categories and those the fetched messages named, the fetched ones last:
    they were read after the page."""
    if not fetched:
        return page
    merged = dict(page.categories)
    merged.update(fetched)
    return replace(page, categories=tuple(merged.items()))
