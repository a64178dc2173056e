"""Where sync stands in each folder, and what a folder's state says to do next.

A cursor records the folder's UIDVALIDITY and the highest UID whose raw bytes are committed.
UIDs only grow while UIDVALIDITY stays (RFC 3501 §2.3.1.1); when it changes, every UID is
new again and the folder is read from the start — the raw store and the "already tracked"
rule keep that from duplicating anything.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tidings.domain.holding import Holder


@dataclass(frozen=True)
class FolderCursor:
    """How far sync has committed one folder of one mailbox."""

    mailbox_id: int
    folder: str
    uidvalidity: int
    last_uid: int = 0
    highest_modseq: int | None = None
    #: A mail API's own cursor (Graph deltaLink, Gmail historyId, EWS sync state); such
    #: folders keep ``uidvalidity`` and ``last_uid`` at 0.
    token: str | None = None
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


def is_unchanged(stored: FolderCursor | None, status: FolderStatus) -> bool:
    """Whether SELECT shows nothing new since the stored cursor caught up (RFC 7162 §3.1.2).

    HIGHESTMODSEQ grows with every change to a folder (new mail included), so an equal value
    under the same UIDVALIDITY means there is nothing to search for.
    """
    return (
        stored is not None
        and stored.uidvalidity == status.uidvalidity
        and stored.highest_modseq is not None
        and stored.highest_modseq == status.highest_modseq
    )


def cursor_for(
    stored: FolderCursor | None, mailbox_id: int, folder: str, status: FolderStatus
) -> FolderCursor:
    """The cursor to continue from: the stored one, or a fresh one after a UIDVALIDITY change."""
    if stored is not None and stored.uidvalidity == status.uidvalidity:
        return stored
    return FolderCursor(mailbox_id, folder, status.uidvalidity)


def chunked(
    uids: Sequence[int], sizes: Mapping[int, int], most: int, most_bytes: int
) -> list[list[int]]:
    """``uids`` in order, in chunks of at most ``most`` messages and ``most_bytes`` bytes
    by ``sizes`` (a message of unknown size counts as none; one larger than ``most_bytes``
    is a chunk of its own): what a chunk holds is in memory at once."""
    found: list[list[int]] = []
    chunk: list[int] = []
    held = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if chunk and (len(chunk) >= most or held + size > most_bytes):
            found.append(chunk)
            chunk, held = [], 0
        chunk.append(uid)
        held += size
    if chunk:
        found.append(chunk)
    return found


@dataclass(frozen=True)
class FetchedMessage:
    """One message as fetched: its UID, when the server received it, its bytes."""

    uid: int
    internal_date: datetime | None
    raw: bytes


class SyncMode(enum.StrEnum):
    """What sync is doing with a folder right now."""

    CONNECTING = "connecting"
    CATCHING_UP = "catching_up"
    IDLE = "idle"
    POLLING = "polling"
    BACKING_OFF = "backing_off"
    DISABLED = "disabled"
    #: No sync worker has reported lately: whatever a folder last said no longer holds.
    STOPPED = "stopped"


#: A worker reports every few seconds; one silent this long has stopped or died.
WORKER_SILENT_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class WorkerBeat:
    """A sync worker's sign of life, renewed while it runs and removed when it stops."""

    worker_id: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime


def worker_running(last_seen: datetime | None, now: datetime) -> bool:
    """Whether some worker has reported recently enough to be trusted as running."""
    return last_seen is not None and now - last_seen < WORKER_SILENT_AFTER


@dataclass(frozen=True)
class FolderSyncState:
    """How sync of one folder stands, as the worker last recorded it for readers elsewhere."""

    mailbox_id: int
    folder: str
    mode: SyncMode
    #: When this state was recorded (a worker that died leaves an old time behind).
    updated_at: datetime
    #: When sync last found the folder caught up with the server.
    checked_at: datetime | None = None
    #: Messages on the server not yet ingested, as last counted.
    backlog: int = 0
    #: While a first sync runs: messages done of the total it found.
    first_sync_done: int | None = None
    first_sync_total: int | None = None
    #: The last failure, until sync next succeeds.
    last_error: str | None = None


#: How a mailbox's folders add up to one mode: the first that any folder is in.
_MODE_ORDER = (
    SyncMode.DISABLED,
    SyncMode.STOPPED,
    SyncMode.BACKING_OFF,
    SyncMode.CONNECTING,
    SyncMode.CATCHING_UP,
    SyncMode.POLLING,
    SyncMode.IDLE,
)


@dataclass(frozen=True)
class FolderSync:
    """One folder as readers see it: its committed cursor and the worker's last word."""

    folder: str
    cursor: FolderCursor | None
    state: FolderSyncState | None
    worker_running: bool = True

    @property
    def mode(self) -> SyncMode | None:
        """The worker's last word, unless no worker has reported lately."""
        if self.state is None:
            return None
        return self.state.mode if self.worker_running else SyncMode.STOPPED


@dataclass(frozen=True)
class MailboxSync:
    """A mailbox's sync at a glance, added up from its folders."""

    folders: tuple[FolderSync, ...] = ()
    #: False when the mailbox is not (or no longer) meant to sync: disabled, not approved.
    syncing: bool = True
    #: False when no sync worker has reported lately.
    worker_running: bool = True
    #: The worker syncing the mailbox now (workers share the mailboxes on PostgreSQL).
    held_by: Holder | None = None

    @property
    def mode(self) -> SyncMode | None:
        modes = {f.state.mode for f in self.folders if f.state is not None}
        if modes and not self.syncing:
            return SyncMode.DISABLED  # whatever the worker last said, it has stopped since
        if modes and not self.worker_running:
            return SyncMode.STOPPED  # the worker that said it is gone
        return next((mode for mode in _MODE_ORDER if mode in modes), None)

    @property
    def last_sync(self) -> datetime | None:
        """When sync last found every folder it has checked caught up (the oldest of them)."""
        times = [f.state.checked_at for f in self.folders if f.state and f.state.checked_at]
        return min(times) if times else None

    @property
    def backlog(self) -> int:
        return sum(f.state.backlog for f in self.folders if f.state is not None)

    @property
    def first_sync(self) -> tuple[int, int] | None:
        """(done, total) over the folders whose first sync is running, if any is."""
        running = [
            (f.state.first_sync_done or 0, f.state.first_sync_total)
            for f in self.folders
            if f.state is not None and f.state.first_sync_total is not None
        ]
        if not running:
            return None
        return sum(d for d, _ in running), sum(t for _, t in running if t is not None)


def mailbox_sync(
    cursors: list[FolderCursor],
    states: list[FolderSyncState],
    *,
    syncing: bool = True,
    worker_running: bool = True,
    tracked: Collection[str] | None = None,
) -> MailboxSync:
    """Pair each folder's cursor with its state (either may be missing); with ``tracked``,
    only for those folders: one no longer tracked says nothing of the mailbox."""
    by_folder = {c.folder: c for c in cursors if tracked is None or c.folder in tracked}
    state_by_folder = {s.folder: s for s in states if tracked is None or s.folder in tracked}
    names = sorted(set(by_folder) | set(state_by_folder))
    return MailboxSync(
        tuple(
            FolderSync(n, by_folder.get(n), state_by_folder.get(n), worker_running) for n in names
        ),
        syncing=syncing,
        worker_running=worker_running,
    )
