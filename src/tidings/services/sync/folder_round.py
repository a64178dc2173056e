"""What a round of sync over one folder needs, whatever the mail source that names its
messages for good (POP3 UIDLs, a mail API's ids): storage, ingest, the status board, and
which of the messages listed the raw store already holds, and what to do with a message
the server lists but does not hand over."""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from typing import TypeVar

from tidings.domain.errors import MailServerError
from tidings.domain.message import MessageOrigin
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.sync.model import CHUNK_BYTES, SyncEvent, SyncTarget
from tidings.services.sync.status import SyncStatusBoard
from tidings.services.sync.withheld import PassedOver, WithheldMail
from tidings.services.tracking.pipeline import IngestService

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class FolderRound:
    """The parts a round works with; subclasses say how their source lists and fetches."""

    #: Counts the tries of messages the server holds but did not hand over.
    withheld: WithheldMail | None = None
    #: Told of a message passed over for good.
    on_passed_over: PassedOver | None = None

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        ingest: IngestService,
        clock: Clock,
        status: SyncStatusBoard,
        *,
        chunk: int,
        chunk_bytes: int = CHUNK_BYTES,
        listener: Callable[[SyncEvent], None] | None,
    ) -> None:
        self._uow = uow_factory
        self._ingest = ingest
        self._clock = clock
        self._status = status
        self._chunk = chunk
        #: Bytes of email a chunk holds at most, where the source tells sizes (POP3's LIST).
        self._chunk_bytes = chunk_bytes
        self._listener = listener

    def _not_yet_stored(self, origins: Mapping[K, MessageOrigin]) -> list[K]:
        """The keys, in order, whose origin the raw store has never received."""
        with self._uow() as uow:
            seen = uow.raw_messages.ids_by_origins(list(origins.values()))
        return [key for key, origin in origins.items() if origin not in seen]

    async def _count_withheld(
        self, target: SyncTarget, withheld: Mapping[str, str], *, named: str = "id"
    ) -> dict[str, str]:
        """The server holds ``withheld`` (id: why) but did not hand them over. Each that has
        had its last try is passed over, with an alert; the others are returned: the round
        must then fail, to be tried again after the back-off with its cursor where it was.
        ``named`` says what the ids are ("id", "UIDL")."""
        key = (target.mailbox_id, target.folder)
        waiting: dict[str, str] = {}
        for item_id, reason in withheld.items():
            if self.withheld is None or not self.withheld.item_failed(key, item_id):
                waiting[item_id] = reason
                continue
            log.warning(
                "%s/%s: the email with %s %s is passed over: the server did not hand it over (%s)",
                target.address,
                target.folder,
                named,
                item_id,
                reason,
            )
            if self.on_passed_over is not None:
                await self.on_passed_over(target, f"{named} {item_id}", reason)
        return waiting


def withheld_error(waiting: Mapping[str, str]) -> MailServerError:
    """The failure of a round that must try ``waiting`` again."""
    reason = next(iter(waiting.values()))
    return MailServerError(
        f"the server did not hand over {len(waiting)} email(s) ({reason}); trying again",
        permanent=False,
    )
