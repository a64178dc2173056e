"""Flag synchronization of an IMAP folder: reading the tracked category back from the
server, and writing it onto what Tidings tracked.

After each catch-up of a folder (new mail first: a flag can only mean something for an email
that is kept), one round::

    CONDSTORE and a stored HIGHESTMODSEQ ──▶ UID FETCH 1:* (UID FLAGS) (CHANGEDSINCE m)
    otherwise                            ──▶ the newest ``rescan_limit`` messages' FLAGS
            │
            ▼
    CategoryTracking.apply: marked ─▶ tracked, unmarked ─▶ untracked (only real changes)
            │
            ▼
    PERMANENTFLAGS allow the keyword ──▶ UID STORE +FLAGS.SILENT (keyword) on tracked email
                                         that lacks it; recorded so it is never written again
            │
            ▼
    HIGHESTMODSEQ in the cursor moves to the highest MODSEQ handled (RFC 7162 §3.1.4),
    committed with that record (and what other folders write at the same moment)

The MODSEQ stored never passes a change of a message not ingested yet (it arrived after the
catch-up): the next round, or the next SELECT, sees that change again. The next round also
reads back the keyword this task wrote; found with the read state it was written under, it
is known already and costs no storage work (under a flow of pushed mail, every round would
otherwise judge the email before). IDLE reports flag changes as ``FETCH``, so a person's
mark is seen as soon as the server tells of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from tidings.domain.errors import MailServerError
from tidings.domain.sync import FolderCursor, FolderStatus
from tidings.domain.tracked_category import FlagState, has_keyword, keyword_allowed
from tidings.services.category_tracking import CategoryTracking, ToWrite, imap_states
from tidings.services.sync.departures import DepartureRound
from tidings.services.sync.freshly_kept import FreshlyKept
from tidings.services.sync.model import Ingested, SyncEvent, SyncTarget
from tidings.services.sync.status import SyncStatusBoard
from tidings.services.sync.together import Together

log = logging.getLogger(__name__)

#: Messages whose flags are read again each round where the server has no CONDSTORE.
RESCAN_LIMIT = 500
#: Categories written per round (the rest on the next one).
WRITE_LIMIT = 500
#: A folder's tracked email is looked at whole for what lacks the category at most this
#: often; the rounds between look at their own new mail only. Under a flow of pushed mail a
#: whole look at each email would read the folder's every tracked email each time.
LOOK_WHOLE_SECONDS = 60.0


@runtime_checkable
class FlagSession(Protocol):
    """What an IMAP folder session offers flag synchronization (``ImapFolderSession``)."""

    status: FolderStatus
    permanent_flags: frozenset[str] | None

    @property
    def supports_condstore(self) -> bool: ...
    async def flags_since(self, modseq: int) -> list[FlagState]: ...
    async def recent_flags(self, limit: int) -> list[FlagState]: ...
    async def add_keyword(self, uids: Sequence[int], keyword: str) -> bool: ...


class FlagRound:
    """Reads and writes the tracked category of one IMAP folder, once per catch-up."""

    def __init__(
        self,
        categories: CategoryTracking,
        status: SyncStatusBoard,
        *,
        listener: Callable[[SyncEvent], None] | None = None,
        rescan_limit: int = RESCAN_LIMIT,
        use_condstore: bool = True,
        departures: DepartureRound | None = None,
        settings_max_age: float = 0.0,
        look_whole_seconds: float = LOOK_WHOLE_SECONDS,
        freshly_kept: FreshlyKept | None = None,
    ) -> None:
        self._categories = categories
        #: Runs first in each round, reading from the same ``since`` (``departures``).
        self._departures = departures
        self._status = status
        self._listener = listener
        self._rescan_limit = rescan_limit
        self._use_condstore = use_condstore
        #: Seconds a round may go by the email configuration as an earlier one read it.
        self._settings_max_age = settings_max_age
        #: What the catch-up before each round kept for the first time (``freshly_kept``).
        self._freshly_kept = freshly_kept or FreshlyKept()
        #: Each folder's UIDVALIDITY when ``since`` read its MODSEQ.
        self._validity: dict[tuple[int, str], int | None] = {}
        #: Each folder's last UID kept when ``since`` read it: above it, this round's mail.
        self._kept_before: dict[tuple[int, str], int] = {}
        #: What to write the category on, read with other folders': (mailbox, folder,
        #: UIDVALIDITY, the UIDs to look at or None for all).
        self._to_write: Together[ToWrite, list[tuple[int, str]]] = Together(
            lambda folders: categories.to_write_many(folders, WRITE_LIMIT)
        )
        #: When each folder was last looked at whole for tracked email that lacks the
        #: category, and with what keyword.
        self._looked: dict[tuple[int, str], tuple[float, str]] = {}
        self._look_whole_seconds = look_whole_seconds
        #: Each folder's UIDs written on, with their read state then, until read back.
        self._echoes: dict[tuple[int, str], tuple[int, dict[int, bool]]] = {}

    async def since(self, target: SyncTarget) -> int | None:
        """The HIGHESTMODSEQ up to which flags were handled: read it before catching up,
        which may move the cursor's copy to what SELECT reported."""
        key = (target.mailbox_id, target.folder)
        stored = await self._status.cursor(key)
        self._validity[key] = stored.uidvalidity if stored is not None else None
        self._kept_before[key] = stored.last_uid if stored is not None else 0
        return stored.highest_modseq if stored is not None else None

    async def run(self, target: SyncTarget, session: object, since: int | None) -> int:
        """One round: what left the folder first, then read changes, track and untrack,
        write the category, move the MODSEQ. Returns how many emails it wrote the category
        on: that write is a change of its own, read back by a later round (which moves the
        MODSEQ past it), and ``WRITE_LIMIT`` of them means more may be waiting.

        Should the connection fail first, the cursor's HIGHESTMODSEQ goes back to ``since``:
        the catch-up before may have stored SELECT's, past changes this round never read.
        """
        fresh = self._freshly_kept.take((target.mailbox_id, target.folder))
        try:
            if self._departures is not None:
                await self._departures.run(target, session, since)
            if isinstance(session, FlagSession):
                return await self._round(target, session, since, fresh)
            return 0
        except MailServerError:
            await self._restore((target.mailbox_id, target.folder), since)
            raise

    async def _restore(self, key: tuple[int, str], since: int | None) -> None:
        current = await self._status.cursor(key)
        if current is None:
            return
        # Under a new UIDVALIDITY the old MODSEQ means nothing: none, and the next round
        # reads the newest flags again.
        restored = since if current.uidvalidity == self._validity.get(key) else None
        if current.highest_modseq != restored:
            await self._status.save_cursor(replace(current, highest_modseq=restored))

    async def _round(
        self,
        target: SyncTarget,
        session: FlagSession,
        since: int | None,
        fresh: tuple[int | None, dict[str, int | None]],
    ) -> int:
        config = await self._categories.recent_settings(self._settings_max_age)
        if not config.use_tracked_category:
            return 0
        key = (target.mailbox_id, target.folder)
        uidvalidity = session.status.uidvalidity
        stored = await self._status.cursor(key)
        if stored is None or stored.uidvalidity != uidvalidity:
            return 0  # nothing of this folder is kept under this UIDVALIDITY yet
        keyword = config.tracked_keyword
        changes = (
            self._use_condstore
            and session.supports_condstore
            and session.status.highest_modseq is not None
            and since is not None
        )
        if changes:
            assert since is not None  # noqa: S101 - checked above
            states = await session.flags_since(since)
        else:
            states = await session.recent_flags(self._rescan_limit)
        # Mail this round's catch-up kept carries no mark yet (marks are made here, after
        # the cursor moved past it): without the keyword, nothing of it can change, and
        # ingest has just decided it. A pushed email then costs no lookups and no lock.
        before = self._kept_before.get(key, 0) if self._validity.get(key) == uidvalidity else 0
        echoes = self._read_back(key, uidvalidity, states)
        kept = [
            s
            for s in states
            if s.uid <= stored.last_uid
            and (s.uid <= before or has_keyword(s.flags, keyword))
            and not _is_echo(s, echoes, keyword)
        ]
        # Without CONDSTORE the flags read are the newest messages': the round's new mail is
        # all among them when they reach back to it, or are the whole folder.
        covered = (
            changes or len(states) < self._rescan_limit or min(s.uid for s in states) <= before + 1
        )
        if covered and self._looked_lately(key, keyword):
            # Only this round's new mail can lack the category since the last look. A flag
            # change (an email read), or flags read again, is no reason to look again at the
            # whole folder: that reads each of its emails, ten thousand for one read.
            new: tuple[str, ...] | None = tuple(
                str(s.uid) for s in states if before < s.uid <= stored.last_uid
            )
        else:
            new = None
            self._looked[key] = (time.monotonic(), keyword)
        if kept:
            among = None if new is None else tuple(sorted({*new, *(str(s.uid) for s in kept)}))
            results, pending = await asyncio.to_thread(
                self._categories.settle,
                target.mailbox_id,
                target.folder,
                uidvalidity,
                imap_states(kept, keyword),
                WRITE_LIMIT,
                among,
            )
        else:  # nothing to act on: only what to write, read with other folders'
            results = []
            known = fresh[1] if fresh[0] == uidvalidity else {}
            if new is not None and all(uid in known for uid in new):
                # All kept for the first time just now: tracked ones lack it, none other.
                tracked = ((raw, uid) for uid in new if (raw := known[uid]) is not None)
                pending = sorted(tracked)[:WRITE_LIMIT]
            else:
                pending = await self._to_write.run(
                    (target.mailbox_id, target.folder, uidvalidity, new)
                )
        if results and self._listener is not None:
            self._listener(Ingested(target, results))
        wrote = 0
        written: list[tuple[int, bool | None]] = []
        if pending and keyword_allowed(session.permanent_flags, keyword):
            if await session.add_keyword([int(uid) for _, uid in pending], keyword):
                seen = {s.uid: has_keyword(s.flags, "\\Seen") for s in states}
                written = [(raw, seen.get(int(uid))) for raw, uid in pending]
                wrote = len(pending)
                if wrote >= WRITE_LIMIT:  # more may be waiting: the next round looks at all
                    self._looked.pop(key, None)
            else:  # tracking goes on without it; the next round tries again
                log.warning("%s/%s refused the keyword %s", target.address, target.folder, keyword)
                self._looked.pop(key, None)
        advanced = None
        if changes:
            assert since is not None  # noqa: S101 - checked above
            advanced = await self._advanced(key, since, states, stored.last_uid)
        # What was written and how far the round read, in one transaction.
        if advanced is not None:
            await self._status.save_cursor(advanced, written=written)
        elif written:
            await self._status.commit_written(key, written)
        if written:  # recorded: reading it back is no news
            read_states = {int(u): seen for (_, u), (_, seen) in zip(pending, written, strict=True)}
            self._expect_echoes(key, uidvalidity, read_states)
        return wrote

    def _looked_lately(self, key: tuple[int, str], keyword: str) -> bool:
        looked = self._looked.get(key)
        return (
            looked is not None
            and looked[1] == keyword
            and time.monotonic() - looked[0] < self._look_whole_seconds
        )

    def _expect_echoes(
        self, key: tuple[int, str], uidvalidity: int, written: dict[int, bool | None]
    ) -> None:
        earlier = self._echoes.get(key)
        known = earlier[1] if earlier is not None and earlier[0] == uidvalidity else {}
        known |= {uid: seen for uid, seen in written.items() if seen is not None}
        # Bounded: a server that never reads a write back (none seen so far) costs no memory.
        self._echoes[key] = (uidvalidity, dict(list(known.items())[-WRITE_LIMIT:]))

    def _read_back(
        self, key: tuple[int, str], uidvalidity: int, states: list[FlagState]
    ) -> dict[int, bool]:
        """The UIDs this task wrote the keyword on that ``states`` reads back, each with
        its read state as written; no longer looked for after."""
        written = self._echoes.pop(key, None)
        if written is None or written[0] != uidvalidity:
            return {}
        uids = written[1]
        echoes = {s.uid: uids[s.uid] for s in states if s.uid in uids}
        rest = {uid: seen for uid, seen in uids.items() if uid not in echoes}
        if rest:
            self._echoes[key] = (uidvalidity, rest)
        return echoes

    async def _advanced(
        self, key: tuple[int, str], since: int, states: list[FlagState], last_uid: int
    ) -> FolderCursor | None:
        """The cursor with the HIGHESTMODSEQ this round read up to; None if unmoved."""
        current = await self._status.cursor(key)
        if current is None:
            return None
        handled = [s.modseq for s in states if s.modseq is not None and s.uid <= last_uid]
        top = max([since, current.highest_modseq or 0, *handled])
        later = [s.modseq for s in states if s.modseq is not None and s.uid > last_uid]
        if later:  # not ingested yet: its change must be seen again
            top = min(top, min(later) - 1)
        top = max(top, since)
        return replace(current, highest_modseq=top) if top != current.highest_modseq else None


def _is_echo(state: FlagState, echoes: dict[int, bool], keyword: str) -> bool:
    """Whether ``state`` is only the keyword this task wrote, read back: nothing new."""
    return (
        state.uid in echoes
        and has_keyword(state.flags, keyword)
        and has_keyword(state.flags, "\\Seen") == echoes[state.uid]
    )
