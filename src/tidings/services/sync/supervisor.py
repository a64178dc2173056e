"""Server-side sync of incoming email: a task per tracked folder of every enabled mailbox.

Each folder task runs this state machine::

        ┌────────────┐ open ok  ┌─────────────┐ caught up ┌──────────────────────┐
    ──▶ │ CONNECTING │────────▶ │ CATCHING UP │─────────▶ │ WAITING (IDLE / poll) │
        └────────────┘          └─────────────┘ ◀──────── └──────────────────────┘
           ▲   │ transient failure     │  ▲      change or renewal   │ connection lost
           │   ▼                       │  └──────────────────────────┘
        ┌──────────────┐ ◀─────────────┘ (any transient failure)
        │ BACKING OFF  │  exponential, with jitter, until the next try
        └──────────────┘
    A permanent failure (password, certificate) raises an alert; after
    ``max_permanent_failures`` in a row the mailbox is disabled, saying why.

Catching up fetches UIDs above the cursor in chunks; each chunk's raw bytes are committed by
ingest before the cursor moves, so a crash at any point refetches at most one chunk, and the
raw store makes that refetch a no-op. A changed UIDVALIDITY starts the folder again from UID 1.
Where the server offers CONDSTORE, the HIGHESTMODSEQ that SELECT reported is stored once the
catch-up after it commits; an equal value on the next SELECT skips the search (RFC 7162).

After each catch-up of an IMAP folder a flag round (``sync_flags``) reads what changed of
its messages' flags since the HIGHESTMODSEQ it handled (CONDSTORE; a bounded re-read
without), tracks what a person marked with the tracked category and untracks what they
unmarked, and writes the category onto what Tidings tracked. A mail-API folder's pages carry
its messages' categories the same way (``sync_categories``). The round first looks for what
left the folder (``sync_departures``: QRESYNC's VANISHED, or a bounded UID SEARCH); what left,
and what each catch-up kept that another synced folder holds too, settle the activity by
where the email is now (``departures``).

A server profile's *maximum concurrent connections* holds for all its folders together: when
they are more, all but one of the allowed connections stay with folders of their own, and
the other folders poll in turn through the last one (``taking_turns``).

Folders reached through a mail API (Graph, Gmail, EWS) follow the same machine with the
vendor's cursor in place of UIDs (``sync_delta``): waiting is a notification where the
vendor pushes, else the polling interval; a ``ThrottledError`` waits what the vendor asked
and counts as no failure; an expired cursor reads the folder again without duplicates.

Every state above is recorded per folder (``sync_status``) for the API and the CLI, which
run in other processes: the mode, when the folder was last caught up, the backlog, the
progress of a first sync and the last error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from tidings.domain.error_text import brief
from tidings.domain.errors import MailServerError, ThrottledError
from tidings.domain.folders import INBOX
from tidings.domain.mailbox import Alert, AlertLevel
from tidings.domain.message import MessageOrigin
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.domain.sync import (
    SyncMode,
    cursor_for,
    is_unchanged,
)
from tidings.services.category_tracking import CategoryTracking
from tidings.services.departures import Departures
from tidings.services.ports import Clock, SecretBox, UnitOfWork
from tidings.services.sync.categories import ApiCategories
from tidings.services.sync.delta import DeltaRound
from tidings.services.sync.departures import DepartureRound
from tidings.services.sync.flags import FlagRound
from tidings.services.sync.model import (
    API_KINDS,
    Alerted,
    Backoff,
    DeltaOpener,
    DeltaSession,
    FolderOpener,
    FolderSession,
    Ingested,
    Pop3Opener,
    Pop3Session,
    SyncEvent,
    SyncTarget,
)
from tidings.services.sync.pop3 import Pop3Poll
from tidings.services.sync.status import SyncStatusBoard
from tidings.services.sync.targets import SyncTargets
from tidings.services.tracking.pipeline import IngestService

log = logging.getLogger(__name__)

#: Emails fetched and ingested per transaction while catching up.
CHUNK = 100


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
        turn_seconds: float = 5.0,
    ) -> None:
        self._uow = uow_factory
        self._ingest = ingest
        self._secrets = secrets
        self._open = opener
        self._clock = clock
        self._max_permanent_failures = max_permanent_failures
        self._refresh_seconds = refresh_seconds
        self._turn_seconds = turn_seconds
        #: Per server profile, the one connection that folders over its limit take in turn.
        self._turns: dict[tuple[int | None, int], asyncio.Semaphore] = {}
        self._backoff = backoff or Backoff()
        self._listener = listener
        self._open_pop3 = pop3_opener
        self._open_delta = dict(delta_openers or {})
        self._chunk = chunk
        self._permanent_failures: dict[int, int] = {}
        #: Mailboxes whose unreadable credential was alerted, so the alert is raised once.
        self._unreadable_alerted: set[int] = set()
        kinds = {ServerProfileKind.IMAP_SMTP, *self._open_delta}
        if pop3_opener is not None:
            kinds.add(ServerProfileKind.POP3_SMTP)
        self._targets = SyncTargets(uow_factory, secrets, frozenset(kinds))
        self.status = SyncStatusBoard(uow_factory, clock)
        self._pop3 = Pop3Poll(
            uow_factory, ingest, clock, self.status, chunk=chunk, listener=listener
        )
        self._delta = DeltaRound(
            uow_factory, ingest, clock, self.status, chunk=chunk, listener=listener
        )
        categories = CategoryTracking(uow_factory, clock)
        self._departures = Departures(uow_factory, clock)
        departure_round = DepartureRound(self._departures, self.status, listener=listener)
        self._flags = FlagRound(
            categories, self.status, listener=listener, departures=departure_round
        )
        self._delta.departures = self._departures
        self._delta.categories = ApiCategories(categories, listener)

    @property
    def modes(self) -> dict[tuple[int, str], SyncMode]:
        """What each folder task is doing now (the stored copy is what readers see)."""
        return self.status.modes

    def targets(self) -> list[SyncTarget]:
        """Every folder that should be syncing now, with its credential."""
        return self._targets.load()

    async def run(self, stop: asyncio.Event) -> None:
        """Sync until ``stop`` is set, starting and ending folder tasks as settings change."""
        tasks: dict[tuple[int, str], tuple[SyncTarget, bool, asyncio.Task[None]]] = {}
        worker_id, started_at = uuid.uuid4().hex, self._clock.now()
        try:
            while not stop.is_set():
                await self._beat(worker_id, started_at)
                try:
                    found = await asyncio.to_thread(self.targets)
                except Exception as error:  # storage away: the running folders carry on
                    log.error("the mailboxes to sync were not read; retrying: %s", brief(error))
                    await _wait(stop, self._refresh_seconds)
                    continue
                await self._alert_unreadable()
                wanted = {(t.mailbox_id, t.folder): t for t in found}
                by_turns = taking_turns(found)
                for key in [
                    k
                    for k, (target, turns, _) in tasks.items()
                    if wanted.get(k) != target or turns != (k in by_turns)
                ]:
                    tasks.pop(key)[2].cancel()
                    # The mailbox syncs on (its Inbox always does) without this folder.
                    if key not in wanted and (key[0], INBOX) in wanted:
                        await self._untracked(key)
                for key, target in wanted.items():
                    if key not in tasks or tasks[key][2].done():
                        turn = self._turn_of(target.profile) if key in by_turns else None
                        task = asyncio.create_task(self.run_folder(target, stop, turn))
                        tasks[key] = (target, key in by_turns, task)
                await _wait(stop, self._refresh_seconds)
        finally:
            for *_, task in tasks.values():
                task.cancel()
            await asyncio.gather(*(task for *_, task in tasks.values()), return_exceptions=True)
            with contextlib.suppress(Exception):  # a worker that cannot say so falls silent
                await asyncio.to_thread(self.status.forget_worker, worker_id)

    async def _alert_unreadable(self) -> None:
        """A mailbox whose credential cannot be opened is left out, with one alert saying
        why; every other mailbox syncs on."""
        unreadable = dict(self._targets.unreadable)
        self._unreadable_alerted &= set(unreadable)  # readable again: alert anew next time
        for mailbox_id, reason in unreadable.items():
            if mailbox_id in self._unreadable_alerted:
                continue
            log.error("mailbox %s is not synced: %s", mailbox_id, reason)
            text = f"Not synced: {reason}."
            try:
                await asyncio.to_thread(self._alert_mailbox, mailbox_id, text)
            except Exception as error:  # the next refresh tries again
                log.error("the alert of mailbox %s was not stored: %s", mailbox_id, brief(error))
                continue
            self._unreadable_alerted.add(mailbox_id)

    def _alert_mailbox(self, mailbox_id: int, text: str) -> None:
        with self._uow() as uow:
            uow.mailboxes.add_alert(mailbox_id, Alert(AlertLevel.ERROR, text, self._clock.now()))
            uow.commit()

    async def _untracked(self, key: tuple[int, str]) -> None:
        """A folder no longer followed (its rule removed, folder tracking off): what this
        worker held of it goes, so that nothing of it is written again and its failures no
        longer count towards disabling the mailbox."""
        self._permanent_failures.pop(key[0], None)
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
        if target.profile.kind is ServerProfileKind.POP3_SMTP:
            await self._run_pop3(target, stop, turn)
            return
        if target.profile.kind in API_KINDS:
            await self._run_delta(target, stop, turn)
            return
        if turn is not None:
            await self._poll_by_turns(target, stop, turn)
            return
        attempt = 0
        while not stop.is_set():
            await self._record(target, mode=SyncMode.CONNECTING)
            try:
                session = await self._open(target.profile, target.credential, target.folder)
            except MailServerError as error:
                if not await self._failed(target, error, attempt, stop):
                    return
                attempt += 1
                continue
            try:
                await self._follow(target, session, stop)
            except MailServerError as error:
                if not await self._failed(target, error, attempt, stop):
                    return
                attempt += 1
            except Exception as error:  # storage or a bug: the cursor did not move, so retry
                await self._unexpected(target, error, attempt, stop)
                attempt += 1
            else:
                attempt = 0
            finally:
                await session.close()

    async def _poll_by_turns(
        self, target: SyncTarget, stop: asyncio.Event, turn: asyncio.Semaphore
    ) -> None:
        attempt = 0
        interval = max(60.0 * target.profile.min_polling_interval_minutes, self._turn_seconds)
        while not stop.is_set():
            try:
                async with turn:
                    await self._record(target, mode=SyncMode.CONNECTING)
                    session = await self._open(target.profile, target.credential, target.folder)
                    try:
                        after_select = True
                        since = await self._flags.since(target)
                        while await self.catch_up(target, session, after_select=after_select):
                            after_select = False
                        await self._flags.run(target, session, since)
                    finally:
                        await session.close()
            except MailServerError as error:
                if not await self._failed(target, error, attempt, stop):
                    return
                attempt += 1
                continue
            attempt = 0
            self._permanent_failures.pop(target.mailbox_id, None)
            await self._record(target, mode=SyncMode.POLLING)
            await _wait(stop, interval)

    async def _run_pop3(
        self, target: SyncTarget, stop: asyncio.Event, turn: asyncio.Semaphore | None = None
    ) -> None:
        """Poll a POP3 mailbox: each round retrieves the UIDLs the raw store lacks."""
        assert self._open_pop3 is not None, "no POP3 opener configured"  # noqa: S101
        attempt = 0
        interval = max(60.0 * target.profile.min_polling_interval_minutes, 1.0)
        while not stop.is_set():
            try:
                async with turn or contextlib.nullcontext():
                    session = await self._open_pop3(target.profile, target.credential)
                    try:
                        await self.catch_up_pop3(target, session)
                    finally:
                        await session.close()
            except MailServerError as error:
                if not await self._failed(target, error, attempt, stop):
                    return
                attempt += 1
                continue
            attempt = 0
            self._permanent_failures.pop(target.mailbox_id, None)
            await _wait(stop, interval)

    async def _run_delta(
        self, target: SyncTarget, stop: asyncio.Event, turn: asyncio.Semaphore | None = None
    ) -> None:
        """Follow a folder through its mail API: a round, then wait for news or the interval.

        A session holds no connection between requests, so a folder over the profile's
        maximum takes its turn for each round only.
        """
        attempt = 0
        interval = max(60.0 * target.profile.min_polling_interval_minutes, 1.0)
        while not stop.is_set():
            await self._record(target, mode=SyncMode.CONNECTING)
            try:
                session = await self._open_delta[target.profile.kind](
                    target.profile, target.credential, target.address, target.folder
                )
                try:
                    while not stop.is_set():
                        async with turn or contextlib.nullcontext():
                            await self.catch_up_delta(target, session)
                        attempt = 0
                        self._permanent_failures.pop(target.mailbox_id, None)
                        timeout = 25 * 60.0 if session.supports_push else interval
                        await _until_stopped(session.wait_for_change(timeout), stop)
                finally:
                    await session.close()
            except ThrottledError as error:
                log.info("%s/%s throttled: %s", target.address, target.folder, error)
                await self._record(target, mode=SyncMode.BACKING_OFF, last_error=str(error))
                await _wait(stop, error.retry_after_seconds)
            except MailServerError as error:
                if not await self._failed(target, error, attempt, stop):
                    return
                attempt += 1
            except Exception as error:  # storage or a bug: the cursor did not move, so retry
                await self._unexpected(target, error, attempt, stop)
                attempt += 1

    async def catch_up_delta(self, target: SyncTarget, session: DeltaSession) -> int:
        """Ingest what a mail-API folder gained since its cursor."""
        return await self._delta.catch_up(target, session)

    async def catch_up_pop3(self, target: SyncTarget, session: Pop3Session) -> int:
        """Ingest every message of a POP3 mailbox the raw store has not seen."""
        return await self._pop3.catch_up(target, session)

    async def _follow(
        self, target: SyncTarget, session: FolderSession, stop: asyncio.Event
    ) -> None:
        self._permanent_failures.pop(target.mailbox_id, None)
        after_select = True
        while not stop.is_set():
            since = await self._flags.since(target)
            ingested = await self.catch_up(target, session, after_select=after_select)
            after_select = False
            await self._flags.run(target, session, since)
            if ingested:
                continue  # mail may have come while this batch was ingested: look again
            mode = _waiting_mode(session)
            interval = max(60.0 * target.profile.min_polling_interval_minutes, 1.0)
            timeout = interval if mode is SyncMode.POLLING else 25 * 60.0
            if not await _until_stopped(session.wait_for_change(timeout), stop):
                return

    async def catch_up(
        self, target: SyncTarget, session: FolderSession, *, after_select: bool = False
    ) -> int:
        """Ingest every message above the cursor; the cursor follows each committed chunk.

        Right after SELECT (``after_select``), a HIGHESTMODSEQ equal to the stored one means
        nothing changed since the last catch-up: no search at all. Once a catch-up after
        SELECT completes, SELECT's HIGHESTMODSEQ is stored with the cursor.
        """
        status = session.status
        key = self._key(target)
        # Storage is read and written in threads: the event loop serves every other folder.
        stored = await asyncio.to_thread(self.status.stored_cursor, key)
        if after_select and is_unchanged(stored, status):
            log.debug(
                "%s/%s unchanged since HIGHESTMODSEQ %s: nothing to fetch",
                target.address,
                target.folder,
                status.highest_modseq,
            )
            await self._caught_up(target, session)
            return 0
        cursor = cursor_for(stored, target.mailbox_id, target.folder, status)
        first_sync = stored is None or stored.uidvalidity != status.uidvalidity
        since = target.profile.process_email_received_after if first_sync else None
        uids = await session.uids_after(cursor.last_uid, since)
        if first_sync or len(uids) > self._chunk:
            total = len(uids) if first_sync else None
            await self._record(
                target,
                mode=SyncMode.CATCHING_UP,
                backlog=len(uids),
                first_sync_done=0 if first_sync else None,
                first_sync_total=total,
            )
        received_after = target.profile.process_email_received_after
        done = 0
        chunks = [uids[first : first + self._chunk] for first in range(0, len(uids), self._chunk)]
        # The next chunk is fetched while this one is ingested (in a thread): the network
        # and the database work at the same time.
        fetching = asyncio.ensure_future(session.fetch(chunks[0])) if chunks else None
        for index, chunk in enumerate(chunks):
            assert fetching is not None  # noqa: S101 - one fetch is started per chunk
            messages = await fetching
            following = chunks[index + 1] if index + 1 < len(chunks) else None
            fetching = asyncio.ensure_future(session.fetch(following)) if following else None
            batch = [
                (
                    m.raw,
                    MessageOrigin(target.mailbox_id, target.folder, status.uidvalidity, str(m.uid)),
                )
                for m in messages
                if not (
                    first_sync
                    and received_after
                    and m.internal_date
                    and m.internal_date < received_after
                )
            ]
            try:
                results = await asyncio.to_thread(self._ingest.ingest_batch, batch) if batch else []
                # An email kept in another folder too may be the arriving half of a move.
                moved = await asyncio.to_thread(
                    self._departures.arrived,
                    target.mailbox_id,
                    [r.raw_message_id for r in results if not r.repeated],
                )
            except BaseException:
                if fetching is not None:
                    fetching.cancel()
                    fetching.add_done_callback(_retrieve)  # type: ignore[arg-type]
                raise
            cursor = cursor.advanced_to(max(chunk))
            last = following is None
            if last and after_select:
                cursor = replace(cursor, highest_modseq=status.highest_modseq)
            passed = sum(len(c) for c in chunks[: index + 1])
            if last:
                self._mark_caught_up(key, session)
            else:
                self.status.change(
                    key,
                    backlog=len(uids) - passed,
                    first_sync_done=passed if first_sync else None,
                )
            await asyncio.to_thread(self.status.save_cursor, cursor)
            done += len(results)
            if (results or moved) and self._listener is not None:
                self._listener(Ingested(target, [*results, *moved]))
        if not chunks:
            if first_sync and since is not None and status.uidnext is not None:
                # Mail older than "process email received after" is passed over for good:
                # every UID below UIDNEXT existed at SELECT, and SINCE left out the old ones.
                cursor = cursor.advanced_to(status.uidnext - 1)
            if after_select:
                cursor = replace(cursor, highest_modseq=status.highest_modseq)
            if first_sync or cursor != stored:
                self._mark_caught_up(key, session)
                await asyncio.to_thread(self.status.save_cursor, cursor)
            else:
                await self._caught_up(target, session)
        elif first_sync and since is not None and status.uidnext is not None:
            cursor = cursor.advanced_to(status.uidnext - 1)
            await asyncio.to_thread(self.status.save_cursor, cursor)
        return done

    def _mark_caught_up(self, key: tuple[int, str], session: FolderSession) -> None:
        self.status.change(
            key,
            mode=_waiting_mode(session),
            backlog=0,
            checked_at=self._clock.now(),
            first_sync_done=None,
            first_sync_total=None,
            last_error=None,
        )

    async def _caught_up(self, target: SyncTarget, session: FolderSession) -> None:
        self._mark_caught_up(self._key(target), session)
        await self._record(target)

    async def _record(self, target: SyncTarget, **changes: Any) -> None:
        await self.status.record(self._key(target), **changes)

    @staticmethod
    def _key(target: SyncTarget) -> tuple[int, str]:
        return (target.mailbox_id, target.folder)

    async def _unexpected(
        self, target: SyncTarget, error: Exception, attempt: int, stop: asyncio.Event
    ) -> None:
        """A failure that is not the mail server's (storage, a bug): log it, back off."""
        # In one line: an error's whole text may quote a statement and all its parameters.
        text = brief(error)
        log.error("sync of %s/%s stopped; retrying: %s", target.address, target.folder, text)
        log.debug("where the sync of %s/%s stopped", target.address, target.folder, exc_info=error)
        await self._record(target, mode=SyncMode.BACKING_OFF, last_error=text)
        await _wait(stop, self._backoff.delay(attempt))

    async def _failed(
        self, target: SyncTarget, error: MailServerError, attempt: int, stop: asyncio.Event
    ) -> bool:
        """Record the failure; False when the mailbox has just been disabled."""
        log.warning("sync of %s/%s failed: %s", target.address, target.folder, error)
        if error.permanent:
            count = self._permanent_failures.get(target.mailbox_id, 0) + 1
            self._permanent_failures[target.mailbox_id] = count
            disable = count >= self._max_permanent_failures
            alerted = Alerted(target, str(error), disable)
            try:
                # Once the mailbox is disabled the run loop may end this task at any moment:
                # the disabled mode is stored regardless, and listeners hear of the failure
                # once all of it is stored.
                await asyncio.shield(asyncio.to_thread(self._alert, target, str(error), disable))
                if disable:
                    await asyncio.shield(
                        self._record(target, mode=SyncMode.DISABLED, last_error=str(error))
                    )
            finally:
                if self._listener is not None:
                    self._listener(alerted)
            if disable:
                return False
        await self._record(target, mode=SyncMode.BACKING_OFF, last_error=str(error))
        await _wait(stop, self._backoff.delay(attempt))
        return True

    def _alert(self, target: SyncTarget, text: str, disable: bool) -> None:
        now = self._clock.now()
        with self._uow() as uow:
            uow.mailboxes.add_alert(
                target.mailbox_id, Alert(AlertLevel.ERROR, text, now, folder=target.folder)
            )
            mailbox = uow.mailboxes.get(target.mailbox_id)
            if disable and mailbox is not None and mailbox.enabled:
                mailbox.enabled = False
                uow.mailboxes.save(mailbox)
                count = self._max_permanent_failures
                uow.mailboxes.add_alert(
                    target.mailbox_id,
                    Alert(
                        AlertLevel.ERROR,
                        f"Mailbox disabled after {count} permanent failures in a row: {text}. "
                        "Fix it, then run Test & Enable.",
                        now,
                    ),
                )
            uow.commit()


def _waiting_mode(session: FolderSession) -> SyncMode:
    return SyncMode.IDLE if getattr(session, "supports_idle", False) else SyncMode.POLLING


def _retrieve(future: asyncio.Future[object]) -> None:
    if not future.cancelled():
        future.exception()


async def _until_stopped(waiting_for: Awaitable[bool], stop: asyncio.Event) -> bool:
    """Await ``waiting_for`` unless ``stop`` is set first; False when stopped. Its errors
    (a lost connection) are raised."""
    waiting = asyncio.ensure_future(waiting_for)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        done, _ = await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in (waiting, stopping):
            future.cancel()
            # A loss racing a stop or a cancel would otherwise be "never retrieved".
            future.add_done_callback(_retrieve)  # type: ignore[arg-type]
    if waiting not in done:
        return False
    waiting.result()  # raises MailServerError if the connection was lost
    return True


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` unless ``stop`` is set first."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def taking_turns(targets: Sequence[SyncTarget]) -> set[tuple[int, str]]:
    """The folders that must share one connection so that no server profile is sent more
    connections than its *maximum concurrent connections*.

    When a profile has more folders than connections allowed, all but one of the allowed
    connections go to folders of their own (IDLE, in a stable order); the remaining folders
    take the last connection in turn, polling.
    """
    by_profile: dict[int | None, list[SyncTarget]] = {}
    for target in targets:
        by_profile.setdefault(target.profile.id, []).append(target)
    turns: set[tuple[int, str]] = set()
    for group in by_profile.values():
        limit = group[0].profile.max_concurrent_connections
        if len(group) <= limit:
            continue
        ordered = sorted(group, key=lambda t: (t.mailbox_id, t.folder))
        turns |= {(t.mailbox_id, t.folder) for t in ordered[limit - 1 :]}
    return turns
