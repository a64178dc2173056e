"""One poll of a POP3 mailbox: retrieve every message whose UIDL the raw store has not seen.

POP3 has neither folders nor push nor a cursor: UIDL names each message for good (RFC 1939
§7), so the origins already in the raw store are the messages already taken.
"""

from __future__ import annotations

import asyncio

from tidings.domain.folders import INBOX
from tidings.domain.message import MessageOrigin
from tidings.domain.sync import SyncMode
from tidings.services.sync.folder_round import FolderRound
from tidings.services.sync.model import (
    POP3_UIDVALIDITY,
    Ingested,
    Pop3Session,
    SyncTarget,
)


class Pop3Poll(FolderRound):
    """Ingests what a POP3 mailbox holds that Tidings has not seen, recording its progress."""

    async def catch_up(self, target: SyncTarget, session: Pop3Session) -> int:
        """Ingest every message whose UIDL the raw store has not seen; returns how many."""
        key = (target.mailbox_id, target.folder)
        listing = await session.uidls()
        origins = {
            uidl: MessageOrigin(target.mailbox_id, INBOX, POP3_UIDVALIDITY, uidl)
            for _, uidl in listing
        }
        unseen = set(self._not_yet_stored(origins))
        new = [(number, uidl) for number, uidl in listing if uidl in unseen]
        first_sync = len(unseen) == len(origins)
        done = 0
        for first in range(0, len(new), self._chunk):
            await self._status.record(
                key,
                mode=SyncMode.CATCHING_UP,
                backlog=len(new) - done,
                first_sync_done=done if first_sync else None,
                first_sync_total=len(new) if first_sync else None,
            )
            batch = [
                (await session.retrieve(number), origins[uidl])
                for number, uidl in new[first : first + self._chunk]
            ]
            results = await asyncio.to_thread(self._ingest.ingest_batch, batch)
            done += len(batch)
            if done == len(new):
                await self._caught_up(key)
            # Listeners hear of a batch once the state it leaves behind is stored.
            if self._listener is not None:
                self._listener(Ingested(target, results))
        if not new:
            await self._caught_up(key)
        return done

    async def _caught_up(self, key: tuple[int, str]) -> None:
        await self._status.record(
            key,
            mode=SyncMode.POLLING,
            backlog=0,
            checked_at=self._clock.now(),
            first_sync_done=None,
            first_sync_total=None,
            last_error=None,
        )
