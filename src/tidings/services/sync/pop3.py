"""One poll of a POP3 mailbox: retrieve every message whose UIDL the raw store has not seen.

POP3 has neither folders nor push nor a cursor: UIDL names each message for good (RFC 1939
§7), so the origins already in the raw store are the messages already taken.
"""

from __future__ import annotations

import asyncio

from tidings.domain.errors import MailServerError
from tidings.domain.folders import INBOX
from tidings.domain.message import MessageOrigin
from tidings.domain.sync import SyncMode, chunked
from tidings.services.sync.folder_round import FolderRound, withheld_error
from tidings.services.sync.model import (
    POP3_UIDVALIDITY,
    Ingested,
    Pop3Session,
    SyncTarget,
)
from tidings.services.tracking.results import IngestResult


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
        passed_over = self.withheld.passed_over(key) if self.withheld is not None else frozenset()
        new = [(n, uidl) for n, uidl in listing if uidl in unseen and uidl not in passed_over]
        if self.withheld is not None:
            # A message that failed before comes last: it cannot hold back the others.
            tries = self.withheld
            new.sort(key=lambda listed: tries.item_tries(key, listed[1]) > 0)
        first_sync = len(unseen) == len(origins)
        done = 0
        refused: dict[str, str] = {}
        sizes = await session.sizes() if len(new) > 1 else {}
        uidl_of = dict(new)
        numbers = chunked([number for number, _ in new], sizes, self._chunk, self._chunk_bytes)
        for numbered in numbers:
            chunk = [(number, uidl_of[number]) for number in numbered]
            await self._status.record(
                key,
                mode=SyncMode.CATCHING_UP,
                backlog=len(new) - done,
                first_sync_done=done if first_sync else None,
                first_sync_total=len(new) if first_sync else None,
            )
            batch = []
            try:
                for number, uidl in chunk:
                    raw = await session.retrieve(number)
                    if raw is None:
                        refused[uidl] = session.refusal or "the server refused it"
                    else:
                        batch.append((raw, origins[uidl]))
            except MailServerError as error:
                # The session broke off on this message: keep what came, count a try.
                taking = chunk[len(batch) + sum(uidl in refused for _, uidl in chunk)][1]
                if batch:
                    results = await asyncio.to_thread(self._ingest.ingest_batch, batch)
                    self._tell(target, results)
                await self._count_withheld(target, {taking: str(error)}, named="UIDL")
                raise
            results = await asyncio.to_thread(self._ingest.ingest_batch, batch) if batch else []
            done += len(chunk)
            if done == len(new) and not refused:
                await self._caught_up(key)
            # Listeners hear of a batch once the state it leaves behind is stored.
            self._tell(target, results)
        if refused:
            waiting = await self._count_withheld(target, refused, named="UIDL")
            if waiting:
                raise withheld_error(waiting)
            await self._caught_up(key)  # every refused message was passed over
        if not new:
            await self._caught_up(key)
        return done

    def _tell(self, target: SyncTarget, results: list[IngestResult]) -> None:
        if self._listener is not None:
            self._listener(Ingested(target, results))

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
