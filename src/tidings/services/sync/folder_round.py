"""What a round of sync over one folder needs, whatever the mail source that names its
messages for good (POP3 UIDLs, a mail API's ids): storage, ingest, the status board, and
which of the messages listed the raw store already holds."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from typing import TypeVar

from tidings.domain.message import MessageOrigin
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.sync.model import SyncEvent
from tidings.services.sync.status import SyncStatusBoard
from tidings.services.tracking.pipeline import IngestService

K = TypeVar("K", bound=Hashable)


class FolderRound:
    """The parts a round works with; subclasses say how their source lists and fetches."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        ingest: IngestService,
        clock: Clock,
        status: SyncStatusBoard,
        *,
        chunk: int,
        listener: Callable[[SyncEvent], None] | None,
    ) -> None:
        self._uow = uow_factory
        self._ingest = ingest
        self._clock = clock
        self._status = status
        self._chunk = chunk
        self._listener = listener

    def _not_yet_stored(self, origins: Mapping[K, MessageOrigin]) -> list[K]:
        """The keys, in order, whose origin the raw store has never received."""
        with self._uow() as uow:
            seen = uow.raw_messages.ids_by_origins(list(origins.values()))
        return [key for key, origin in origins.items() if origin not in seen]
