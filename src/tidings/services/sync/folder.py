"""One folder task: the state machine drawn in the package's docstring, for IMAP folders
(each with a connection of its own, or polling in turn through a shared one), POP3
mailboxes and folders reached through a mail API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from tidings.domain.errors import MailServerError, ThrottledError
from tidings.domain.server_profile import ServerProfileKind
from tidings.domain.sync import SyncMode
from tidings.services.sync import flags as flag_rounds
from tidings.services.sync.catch_up import CatchUp
from tidings.services.sync.delta import DeltaRound
from tidings.services.sync.failures import Failures
from tidings.services.sync.flags import FlagRound
from tidings.services.sync.model import (
    API_KINDS,
    DeltaOpener,
    FolderOpener,
    FolderSession,
    Pop3Opener,
    SyncTarget,
)
from tidings.services.sync.pop3 import Pop3Poll
from tidings.services.sync.status import SyncStatusBoard
from tidings.services.sync.waiting import sleep_unless_stopped, until_stopped, waiting_mode

log = logging.getLogger(__name__)


class FolderTask:
    """Keeps one folder in sync: connect, catch up, wait; back off on failure."""

    def __init__(
        self,
        *,
        opener: FolderOpener,
        pop3_opener: Pop3Opener | None,
        delta_openers: Mapping[ServerProfileKind, DeltaOpener],
        status: SyncStatusBoard,
        failures: Failures,
        catch_up: CatchUp,
        flags: FlagRound,
        pop3: Pop3Poll,
        delta: DeltaRound,
        turn_seconds: float,
        read_back_seconds: float = 30.0,
    ) -> None:
        self._open = opener
        self._open_pop3 = pop3_opener
        self._open_delta = delta_openers
        self._status = status
        self._failures = failures
        self._imap = catch_up
        self._flags = flags
        self._pop3 = pop3
        self._delta = delta
        self._turn_seconds = turn_seconds
        self._read_back_seconds = read_back_seconds

    async def run(
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
            await self._connecting(target)
            try:
                session = await self._open(target.profile, target.credential, target.folder)
            except MailServerError as error:
                if not await self._failures.failed(target, error, attempt, stop):
                    return
                attempt += 1
                continue
            try:
                await self._follow(target, session, stop)
            except MailServerError as error:
                if not await self._failures.failed(target, error, attempt, stop):
                    return
                attempt += 1
            except Exception as error:  # storage or a bug: the cursor did not move, so retry
                await self._failures.unexpected(target, error, attempt, stop)
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
                    await self._connecting(target)
                    session = await self._open(target.profile, target.credential, target.folder)
                    try:
                        after_select = True
                        since = await self._flags.since(target)
                        while await self._imap.catch_up(target, session, after_select=after_select):
                            after_select = False
                        await self._flags.run(target, session, since)
                    finally:
                        await session.close()
            except MailServerError as error:
                if not await self._failures.failed(target, error, attempt, stop):
                    return
                attempt += 1
                continue
            attempt = 0
            self._failures.cleared(target.mailbox_id, target.folder)
            await self._record(target, mode=SyncMode.POLLING)
            await sleep_unless_stopped(stop, interval)

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
                        await self._pop3.catch_up(target, session)
                    finally:
                        await session.close()
            except MailServerError as error:
                if not await self._failures.failed(target, error, attempt, stop):
                    return
                attempt += 1
                continue
            attempt = 0
            self._failures.cleared(target.mailbox_id, target.folder)
            await sleep_unless_stopped(stop, interval)

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
            await self._connecting(target)
            try:
                session = await self._open_delta[target.profile.kind](
                    target.profile, target.credential, target.address, target.folder
                )
                try:
                    while not stop.is_set():
                        async with turn or contextlib.nullcontext():
                            await self._delta.catch_up(target, session)
                        attempt = 0
                        self._failures.cleared(target.mailbox_id, target.folder)
                        timeout = 25 * 60.0 if session.supports_push else interval
                        await until_stopped(session.wait_for_change(timeout), stop)
                finally:
                    await session.close()
            except ThrottledError as error:
                log.info("%s/%s throttled: %s", target.address, target.folder, error)
                await self._record(target, mode=SyncMode.BACKING_OFF, last_error=str(error))
                await sleep_unless_stopped(stop, error.retry_after_seconds)
            except MailServerError as error:
                if not await self._failures.failed(target, error, attempt, stop):
                    return
                attempt += 1
            except Exception as error:  # storage or a bug: the cursor did not move, so retry
                await self._failures.unexpected(target, error, attempt, stop)
                attempt += 1

    async def _follow(
        self, target: SyncTarget, session: FolderSession, stop: asyncio.Event
    ) -> None:
        self._failures.cleared(target.mailbox_id, target.folder)
        after_select = True
        while not stop.is_set():
            since = await self._flags.since(target)
            await self._imap.catch_up(target, session, after_select=after_select)
            after_select = False
            wrote = await self._flags.run(target, session, since)
            if wrote >= flag_rounds.WRITE_LIMIT:
                continue  # more tracked email may lack the category: write on at once
            # Mail that came while this round ran is told at the wait's NOOP (or was noted
            # as the round's commands were answered): the wait then ends at once. A round
            # to "look again" would cost every pushed email a second round of commands
            # and transactions that finds nothing.
            mode = waiting_mode(session)
            interval = max(60.0 * target.profile.min_polling_interval_minutes, 1.0)
            if mode is SyncMode.POLLING:
                timeout = interval  # the next poll reads the category back
            elif wrote:
                # The category just written is read back (moving the stored HIGHESTMODSEQ
                # past it, so that the next SELECT finds the folder unchanged) by the next
                # round: the next email's, or one after this long a quiet.
                timeout = self._read_back_seconds
            else:
                timeout = 25 * 60.0
            if not await until_stopped(session.wait_for_change(timeout), stop):
                return

    async def _connecting(self, target: SyncTarget) -> None:
        # What this task knew of the cursor may be stale: another worker may have synced
        # the folder while this one was away from it.
        self._status.reread_cursor((target.mailbox_id, target.folder))
        await self._record(target, mode=SyncMode.CONNECTING)

    async def _record(self, target: SyncTarget, **changes: Any) -> None:
        await self._status.record((target.mailbox_id, target.folder), **changes)
