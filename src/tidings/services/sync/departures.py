"""Finding what left an IMAP folder on the server (deleted, or moved elsewhere).

After each catch-up of a folder, with the flag round (the same HIGHESTMODSEQ ``since``)::

    QRESYNC enabled and a stored HIGHESTMODSEQ ──▶ UID FETCH 1:last (UID)
                                                   (CHANGEDSINCE since VANISHED)
        VANISHED (EARLIER) answers, and the VANISHED the server sent on its own meanwhile
        (IDLE included), are candidates
    otherwise ──▶ the newest ``rescan_limit`` UIDs kept of the folder are candidates
            │
            ▼
    UID SEARCH UID candidates: those not found left the folder
            │
            ▼
    Departures.departed: the activity's state follows where the email is now

Without QRESYNC a departure older than the newest ``rescan_limit`` kept messages is not
seen, as a flag change there is not: the bound keeps each round's cost fixed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from tidings.domain.sync import FolderStatus
from tidings.services.departures import Departures
from tidings.services.sync.model import Ingested, SyncEvent, SyncTarget
from tidings.services.sync.status import SyncStatusBoard

#: Kept messages looked for again each round where the server has no QRESYNC.
RESCAN_LIMIT = 500


@runtime_checkable
class DepartureSession(Protocol):
    """What an IMAP folder session offers to find departures (``ImapFolderSession``)."""

    status: FolderStatus

    @property
    def supports_qresync(self) -> bool: ...
    async def vanished_since(self, modseq: int, last_uid: int) -> list[int]: ...
    async def missing(self, uids: Sequence[int]) -> list[int]: ...


class DepartureRound:
    """Finds what left one IMAP folder since the last round and hands it to ``Departures``."""

    def __init__(
        self,
        departures: Departures,
        status: SyncStatusBoard,
        *,
        listener: Callable[[SyncEvent], None] | None = None,
        rescan_limit: int = RESCAN_LIMIT,
    ) -> None:
        self._departures = departures
        self._status = status
        self._listener = listener
        self._rescan_limit = rescan_limit

    async def run(self, target: SyncTarget, session: object, since: int | None) -> None:
        if not isinstance(session, DepartureSession):
            return
        key = (target.mailbox_id, target.folder)
        uidvalidity = session.status.uidvalidity
        stored = await self._status.cursor(key)
        if stored is None or stored.uidvalidity != uidvalidity:
            return  # nothing of this folder is kept under this UIDVALIDITY yet
        if session.supports_qresync and since is not None:
            gone = await session.vanished_since(since, stored.last_uid)
        else:
            kept = await asyncio.to_thread(
                self._departures.present_uids, *key, uidvalidity, self._rescan_limit
            )
            numbers = sorted(int(uid) for uid in kept if uid.isdigit())
            candidates = [uid for uid in numbers if uid <= stored.last_uid]
            gone = await session.missing(candidates[-self._rescan_limit :])
        if not gone:
            return
        results = await asyncio.to_thread(
            self._departures.departed, *key, uidvalidity, [str(uid) for uid in gone]
        )
        if results and self._listener is not None:
            self._listener(Ingested(target, results))
