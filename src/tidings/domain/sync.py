"""Where sync stands in each folder, and what a folder's state says to do next.

A cursor records the folder's UIDVALIDITY and the highest UID whose raw bytes are committed.
UIDs only grow while UIDVALIDITY stays (RFC 3501 §2.3.1.1); when it changes, every UID is
new again and the folder is read from the start — the raw store and the "already tracked"
rule keep that from duplicating anything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime


@dataclass(frozen=True)
class FolderCursor:
    """How far sync has committed one folder of one mailbox."""

    mailbox_id: int
    folder: str
    uidvalidity: int
    last_uid: int = 0
    highest_modseq: int | None = None
    #: When the cursor last moved (None until stored).
    synced_at: datetime | None = None

    def advanced_to(self, uid: int) -> FolderCursor:
        return replace(self, last_uid=max(self.last_uid, uid))


@dataclass(frozen=True)
class FolderStatus:
    """What SELECT says of a folder."""

    uidvalidity: int
    uidnext: int | None
    exists: int
    highest_modseq: int | None = None


def cursor_for(
    stored: FolderCursor | None, mailbox_id: int, folder: str, status: FolderStatus
) -> FolderCursor:
    """The cursor to continue from: the stored one, or a fresh one after a UIDVALIDITY change."""
    if stored is not None and stored.uidvalidity == status.uidvalidity:
        return stored
    return FolderCursor(mailbox_id, folder, status.uidvalidity)


@dataclass(frozen=True)
class FetchedMessage:
    """One message as fetched: its UID, when the server received it, its bytes."""

    uid: int
    internal_date: datetime | None
    raw: bytes
