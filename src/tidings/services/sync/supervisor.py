"""Starting and ending folder tasks: the sync worker's loop keeps one task per folder that
should sync (``targets``), with the connections its server profile allows (``turns``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime

from tidings.domain.error_text import brief
from tidings.domain.folders import INBOX
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.domain.sync import SyncMode
from tidings.services.category_tracking import CategoryTracking
from tidings.services.departures import Departures
from tidings.services.ports import Clock, SecretBox, UnitOfWork
from tidings.services.sync.catch_up import CHUNK, CatchUp
from tidings.services.sync.categories import ApiCategories
from tidings.services.sync.delta import DeltaRound
from tidings.services.sync.departures import DepartureRound
from tidings.services.sync.failures import Failures
from tidings.services.sync.flags import LOOK_WHOLE_SECONDS, RESCAN_LIMIT, FlagRound
from tidings.services.sync.folder import FolderTask
from tidings.services.sync.freshly_kept import FreshlyKept
from tidings.services.sync.holding import HeldMailboxes
from tidings.services.sync.model import (
    CHUNK_BYTES,
    Backoff,
    DeltaOpener,
    DeltaSession,
    FolderOpener,
    FolderSession,
    Pop3Opener,
    Pop3Session,
    SyncEvent,
    SyncTarget,
)
from tidings.services.sync.pop3 import Pop3Poll
from tidings.services.sync.status import SyncStatusBoard
from tidings.services.sync.targets import SyncTargets
from tidings.services.sync.turns import taking_turns
from tidings.services.sync.waiting import sleep_unless_stopped
from tidings.services.sync.withheld import TRIES, WithheldMail
from tidings.services.tracking.pipeline import IngestService

log = logging.getLogger(__name__)


class SyncService:
    """Runs every folder task and keeps the set of tasks in step with the configuration."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        ingest: IngestService,
        secrets: SecretBox,
        opener: FolderOpener,
        clock: Clock,
        *,
        max_permanent_failures: int = 3,
        refresh_seconds: float = 10.0,
        backoff: Backoff | None = None,
        listener: Callable[[SyncEvent], None] | None = None,
        pop3_opener: Pop3Opener | None = None,
        delta_openers: Mapping[ServerProfileKind, DeltaOpener] | None = None,
        chunk: int = CHUNK,
        chunk_bytes: int = CHUNK_BYTES,
        turn_seconds: float = 5.0,
        read_back_seconds: float = 30.0,
        reads: Callable[[], UnitOfWork] | None = None,
        category_look_seconds: float = LOOK_WHOLE_SECONDS,
        flag_rescan_limit: int = RESCAN_LIMIT,
        withheld_tries: int = TRIES,
    ) -> None:
        """``reads`` makes units of work that only read (on SQLite they take no lock);
        by default ``uow_factory``'s. ``read_back_seconds``: how long an IMAP folder that
        was just given the tracked category waits, with no news, before reading it back.
        ``category_look_seconds``: how often at most a folder's every tracked email is looked
        at for what lacks the category (the rounds between look at their own new mail).
        ``flag_rescan_limit``: how many of a folder's newest messages have their flags read
        again each round where the server has no CONDSTORE. ``chunk_bytes``: how many bytes of
        email an IMAP catch-up fetches at most before ingesting them. ``withheld_tries``: how many
        times an email the server lists but does not hand over is tried, each after the
        folder's back-off, before it is passed over with an alert."""
        reads = reads or uow_factory
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        #: Per server profile, the one connection that folders over its limit take in turn.
        self._turns: dict[tuple[int | None, int], asyncio.Semaphore] = {}
        delta_openers = dict(delta_openers or {})
        kinds = {ServerProfileKind.IMAP_SMTP, *delta_openers}
        if pop3_opener is not None:
            kinds.add(ServerProfileKind.POP3_SMTP)
        self._targets = SyncTargets(reads, secrets, frozenset(kinds))
        self._last_read: tuple[float, list[SyncTarget]] | None = None
        categories = CategoryTracking(uow_factory, clock, reads=reads)
        self.status = SyncStatusBoard(
            uow_factory, clock, reads=reads, record_written=categories.record_written_in
        )
        self._failures = Failures(
            uow_factory,
            clock,
            self.status,
            max_permanent_failures=max_permanent_failures,
            backoff=backoff or Backoff(),
            listener=listener,
        )
        self._pop3 = Pop3Poll(
            uow_factory,
            ingest,
            clock,
            self.status,
            chunk=chunk,
            chunk_bytes=chunk_bytes,
            listener=listener,
        )
        self._delta = DeltaRound(
            uow_factory, ingest, clock, self.status, chunk=chunk, listener=listener
        )
        departures = Departures(uow_factory, clock, reads=reads)
        # What each catch-up kept for the first time answers its flag round's "what lacks
        # the category" without a transaction.
        freshly_kept = FreshlyKept()
        self._imap = CatchUp(
            ingest,
            clock,
            self.status,
            departures,
            chunk=chunk,
            chunk_bytes=chunk_bytes,
            listener=listener,
            freshly_kept=freshly_kept,
            withheld=WithheldMail(withheld_tries),
            on_passed_over=self._failures.passed_over,
        )
        departure_round = DepartureRound(departures, self.status, listener=listener)
        # Turning the category on or off reaches the folders as a change of targets does.
        flags = FlagRound(
            categories,
            self.status,
            listener=listener,
            departures=departure_round,
            settings_max_age=refresh_seconds,
            look_whole_seconds=category_look_seconds,
            rescan_limit=flag_rescan_limit,
            freshly_kept=freshly_kept,
        )
        self._delta.departures = departures
        for rounds in (self._delta, self._pop3):
            rounds.withheld = WithheldMail(withheld_tries)
            rounds.on_passed_over = self._failures.passed_over
        self._delta.categories = ApiCategories(
            categories, listener, settings_max_age=refresh_seconds
        )
        self._folders = FolderTask(
            opener=opener,
            pop3_opener=pop3_opener,
            delta_openers=delta_openers,
            status=self.status,
            failures=self._failures,
            catch_up=self._imap,
            flags=flags,
            pop3=self._pop3,
            delta=self._delta,
            turn_seconds=turn_seconds,
            read_back_seconds=read_back_seconds,
        )

    @property
    def modes(self) -> dict[tuple[int, str], SyncMode]:
        """What each folder task is doing now (the stored copy is what readers see)."""
        return self.status.modes

    def targets(self, max_age: float = 0.0) -> list[SyncTarget]:
        """Every folder that should be syncing now, with its credential.

        What was read less than ``max_age`` seconds ago serves again: the worker's loop,
        the count of its share of the mailboxes and the dispatcher of hold jobs each ask
        every few seconds, and each read goes through every mailbox of the organization.
        """
        last = self._last_read
        if last is not None and time.monotonic() - last[0] < max_age:
            return last[1]
        reading_at = time.monotonic()
        found = self._targets.load()
        self._last_read = (reading_at, found)
        return found

    async def run(self, stop: asyncio.Event, held: HeldMailboxes | None = None) -> None:
        """Sync until ``stop`` is set, starting and ending folder tasks as settings change.

        With ``held`` (workers sharing the mailboxes), only the mailboxes this worker holds
        are synced; a change to them is acted on at once, and a mailbox let go is reported
        once its folder tasks have ended.
        """
        tasks: dict[tuple[int, str], tuple[SyncTarget, bool, asyncio.Task[None]]] = {}
        worker_id, started_at = uuid.uuid4().hex, self._clock.now()
        every: list[SyncTarget] | None = None
        read_at = -math.inf
        try:
            while not stop.is_set():
                due = time.monotonic() - read_at >= self._refresh_seconds
                if due:
                    await self._beat(worker_id, started_at)
                if held is not None:
                    held.changed.clear()
                mine = held.ids() if held is not None else None
                # A worker taking its share at start is woken by every mailbox it takes;
                # the targets are read again only when one of them is not among those read
                # (a mailbox enabled since), else once a refresh interval.
                missing = mine is not None and every is not None and not mine <= _mailboxes(every)
                if due or every is None or missing:
                    # Taken before the read: the sleep after it then always reaches "due".
                    reading_at = time.monotonic()
                    # A read of the last half interval, by the count of this worker's share,
                    # serves; a mailbox taken that the targets lack needs a read of its own.
                    fresh = 0.0 if missing else self._refresh_seconds / 2
                    try:
                        every = await asyncio.to_thread(self.targets, fresh)
                    except Exception as error:  # storage away: the running folders carry on
                        log.error("the mailboxes to sync were not read; retrying: %s", brief(error))
                        await sleep_unless_stopped(stop, self._refresh_seconds)
                        continue
                    read_at = reading_at
                    await self._failures.alert_unreadable(self._targets.unreadable)
                found = every if mine is None else [t for t in every if t.mailbox_id in mine]
                ended = []
                wanted = {(t.mailbox_id, t.folder): t for t in found}
                by_turns = taking_turns(found)
                for key in [
                    k
                    for k, (target, turns, _) in tasks.items()
                    if wanted.get(k) != target or turns != (k in by_turns)
                ]:
                    ended.append(tasks.pop(key)[2])
                    ended[-1].cancel()
                    # The mailbox syncs on (its Inbox always does) without this folder.
                    if key not in wanted and (key[0], INBOX) in wanted:
                        await self._untracked(key)
                for key, target in wanted.items():
                    if key not in tasks or tasks[key][2].done():
                        turn = self._turn_of(target.profile) if key in by_turns else None
                        task = asyncio.create_task(self.run_folder(target, stop, turn))
                        tasks[key] = (target, key in by_turns, task)
                if held is None:
                    await sleep_unless_stopped(stop, self._refresh_seconds)
                    continue
                await asyncio.gather(*ended, return_exceptions=True)
                await held.ran({mailbox_id for mailbox_id, _ in tasks})
                await sleep_unless_stopped(stop, self._refresh_seconds, held.changed)
        finally:
            for *_, task in tasks.values():
                task.cancel()
            await asyncio.gather(*(task for *_, task in tasks.values()), return_exceptions=True)
            if held is not None:
                await held.ran(())
            with contextlib.suppress(Exception):  # a worker that cannot say so falls silent
                await asyncio.to_thread(self.status.forget_worker, worker_id)

    async def _untracked(self, key: tuple[int, str]) -> None:
        """A folder no longer followed (its rule removed, folder tracking off): what this
        worker held of it goes, so that nothing of it is written again and its failures no
        longer count towards disabling the mailbox."""
        self._failures.cleared(key[0])
        try:
            await asyncio.to_thread(self.status.forget, key)
        except Exception:  # readers leave out untracked folders anyway
            log.exception("the sync state of %s/%s was not removed", *key)

    async def _beat(self, worker_id: str, started_at: datetime) -> None:
        try:
            await asyncio.to_thread(self.status.beat, worker_id, started_at)
        except Exception:  # readers may call the worker stopped; sync itself goes on
            log.exception("the sync worker's sign of life was not stored")

    def _turn_of(self, profile: ServerProfile) -> asyncio.Semaphore:
        key = (profile.id, profile.max_concurrent_connections)
        if key not in self._turns:
            self._turns[key] = asyncio.Semaphore(1)
        return self._turns[key]

    async def run_folder(
        self, target: SyncTarget, stop: asyncio.Event, turn: asyncio.Semaphore | None = None
    ) -> None:
        """Keep one folder in sync until ``stop``, or until its mailbox is disabled.

        With ``turn``, the folder has no connection of its own (its server profile's maximum
        of concurrent connections is reached): it polls, connecting only while it holds the
        profile's shared connection.
        """
        await self._folders.run(target, stop, turn)

    async def catch_up(
        self, target: SyncTarget, session: FolderSession, *, after_select: bool = False
    ) -> int:
        """Ingest every message of an IMAP folder above its cursor (``catch_up.CatchUp``)."""
        return await self._imap.catch_up(target, session, after_select=after_select)

    async def catch_up_delta(self, target: SyncTarget, session: DeltaSession) -> int:
        """Ingest what a mail-API folder gained since its cursor."""
        return await self._delta.catch_up(target, session)

    async def catch_up_pop3(self, target: SyncTarget, session: Pop3Session) -> int:
        """Ingest every message of a POP3 mailbox the raw store has not seen."""
        return await self._pop3.catch_up(target, session)


def _mailboxes(targets: list[SyncTarget]) -> set[int]:
    return {target.mailbox_id for target in targets}
