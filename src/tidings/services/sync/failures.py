"""What a failure does to a folder and its mailbox: a transient one backs off, a permanent
one (password, certificate) raises an alert, and ``max_permanent_failures`` in a row
disable the mailbox, saying why. A mailbox whose credential cannot be opened is left out,
with one alert."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any

from tidings.domain.error_text import brief
from tidings.domain.errors import FolderMissingError, MailServerError
from tidings.domain.mailbox import Alert, AlertLevel
from tidings.domain.server_profile import ServerProfileKind
from tidings.domain.sync import SyncMode
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.sync.model import Alerted, Backoff, SyncEvent, SyncTarget
from tidings.services.sync.status import SyncStatusBoard
from tidings.services.sync.waiting import sleep_unless_stopped

log = logging.getLogger(__name__)


class Failures:
    """Counts each mailbox's permanent failures in a row, alerts, backs off, disables."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        clock: Clock,
        status: SyncStatusBoard,
        *,
        max_permanent_failures: int,
        backoff: Backoff,
        listener: Callable[[SyncEvent], None] | None,
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._status = status
        self._max_permanent_failures = max_permanent_failures
        self._backoff = backoff
        self._listener = listener
        self._permanent_failures: dict[int, int] = {}
        #: Mailboxes whose unreadable credential was alerted, so the alert is raised once.
        self._unreadable_alerted: set[int] = set()
        #: Folders found missing on the server and alerted, so the alert is raised once.
        self._missing_alerted: set[tuple[int, str]] = set()

    def cleared(self, mailbox_id: int, folder: str | None = None) -> None:
        """The mailbox got through (or is no longer followed): its count starts again; the
        folder, when named, exists (again)."""
        self._permanent_failures.pop(mailbox_id, None)
        if folder is not None:
            self._missing_alerted.discard((mailbox_id, folder))

    async def unexpected(
        self, target: SyncTarget, error: Exception, attempt: int, stop: asyncio.Event
    ) -> None:
        """A failure that is not the mail server's (storage, a bug): log it, back off."""
        # In one line: an error's whole text may quote a statement and all its parameters.
        text = brief(error)
        log.error("sync of %s/%s stopped; retrying: %s", target.address, target.folder, text)
        log.debug("where the sync of %s/%s stopped", target.address, target.folder, exc_info=error)
        await self._record(target, mode=SyncMode.BACKING_OFF, last_error=text)
        await sleep_unless_stopped(stop, self._backoff.delay(attempt))

    async def failed(
        self, target: SyncTarget, error: MailServerError, attempt: int, stop: asyncio.Event
    ) -> bool:
        """Record the failure; False when the mailbox has just been disabled."""
        log.warning("sync of %s/%s failed: %s", target.address, target.folder, error)
        if isinstance(error, FolderMissingError):
            await self._folder_missing(target, error)
        elif error.permanent:
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
        await sleep_unless_stopped(stop, self._backoff.delay(attempt))
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

    async def _folder_missing(self, target: SyncTarget, error: FolderMissingError) -> None:
        """One warning while the folder is missing; the mailbox's other folders go on, and
        the folder is looked for again after each back-off."""
        key = (target.mailbox_id, target.folder)
        if key in self._missing_alerted:
            return
        text = (
            f"The folder {target.folder} is not synced: {error}. Its email is tracked once "
            "it exists again; or remove its folder-level tracking rule."
        )
        await asyncio.to_thread(self._folder_alert, target, AlertLevel.WARNING, text)
        self._missing_alerted.add(key)

    async def passed_over(self, target: SyncTarget, which: str, reason: str) -> None:
        """An email the server would not hand over was passed over: say which, and why."""
        if target.profile.kind is ServerProfileKind.POP3_SMTP:
            # POP3 lists it at every poll: it is left be until the worker starts again.
            again = "it is tried again when the sync worker restarts"
        else:
            again = (
                "once the server can hand it over, moving it to another folder and back tracks it"
            )
        text = (
            f"The email with {which} in {target.folder} is not tracked: the server did not "
            f"hand it over ({reason}), and the emails after it were tracked without it. It "
            f"is still in the mailbox; {again}."
        )
        await asyncio.to_thread(self._folder_alert, target, AlertLevel.WARNING, text)

    def _folder_alert(self, target: SyncTarget, level: AlertLevel, text: str) -> None:
        with self._uow() as uow:
            alert = Alert(level, text, self._clock.now(), folder=target.folder)
            uow.mailboxes.add_alert(target.mailbox_id, alert)
            uow.commit()

    async def alert_unreadable(self, unreadable: Mapping[int, str]) -> None:
        """A mailbox whose credential cannot be opened is left out, with one alert saying
        why; every other mailbox syncs on."""
        unreadable = dict(unreadable)
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

    async def _record(self, target: SyncTarget, **changes: Any) -> None:
        await self._status.record((target.mailbox_id, target.folder), **changes)
