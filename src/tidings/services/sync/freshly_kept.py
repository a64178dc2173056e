"""What a folder's catch-up just ingested, told to the flag round that follows it.

A pushed email's flag round asks which of the round's new UIDs are tracked and still lack
the category, to write it on them. Ingest has just answered that: an email kept for the
first time (not a repeat of one kept before) has no category mark yet, so it lacks the
category exactly when it was tracked. Counted at 100 pushed emails a second, that question
cost a transaction for every 1.8 folders; answered from here, it costs none. Whatever the
catch-up did not see for the first time (a repeat, a round without it) is asked as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from tidings.domain.message import MessageOrigin
from tidings.domain.tracking import Outcome
from tidings.services.tracking.results import IngestResult

Key = tuple[int, str]


class FreshlyKept:
    """Each folder's emails kept for the first time this round, by UID: the raw id of a
    tracked one, None for one not tracked."""

    def __init__(self) -> None:
        self._kept: dict[Key, tuple[int, dict[str, int | None]]] = {}

    def note(self, origins: Sequence[MessageOrigin], results: Sequence[IngestResult]) -> None:
        """The results of one ingested chunk of a folder, in the order of its origins."""
        for origin, result in zip(origins, results, strict=True):
            if result.repeated:
                continue  # kept before: its mark is not known here
            key = (origin.mailbox_id, origin.folder)
            validity, kept = self._kept.get(key, (origin.uidvalidity, {}))
            if validity != origin.uidvalidity:
                validity, kept = origin.uidvalidity, {}
            tracked = result.outcome is Outcome.TRACKED
            kept[origin.uid] = result.raw_message_id if tracked else None
            self._kept[key] = (validity, kept)

    def take(self, key: Key) -> tuple[int | None, dict[str, int | None]]:
        """The UIDVALIDITY and what the folder's round kept for the first time under it;
        forgotten here, so that each round starts afresh."""
        return self._kept.pop(key, (None, {}))
