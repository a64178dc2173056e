"""The Mailboxes grid's command bar: one action on many mailboxes, each with its own result.

D365's bulk actions go row by row and report every row: one mailbox that fails (or that
the admin may not touch) never stops the others. Each row is its own transaction, and the
privilege is checked for each row, so a scope on records added later narrows it per row
too. Test & Enable runs through ``MailboxAdminService.test_and_enable``, which keeps within
each server profile's maximum concurrent connections; where workers share a task queue
(PostgreSQL) each mailbox's test is a task instead, and the row says it is queued.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tidings.domain.credentials import CredentialKey, CredentialScope, Direction
from tidings.domain.errors import UserError
from tidings.domain.mailbox import Alert, AlertLevel, Mailbox, TestStatus
from tidings.domain.people import Caller, Privilege
from tidings.services.mailbox_setup import untest
from tidings.services.mailboxes import MailboxAdminService, TestReport
from tidings.services.ports import Clock, UnitOfWork

#: What a row says when its Test & Enable was handed to the workers.
QUEUED_TEST = "a worker tests it shortly; the result shows on the mailbox"


class BulkAction(enum.StrEnum):
    """The commands of the Mailboxes grid, by the name their URL carries."""

    APPROVE = "approve"
    TEST_ENABLE = "test-enable"
    DISABLE = "disable"
    DEFAULT_METHODS = "default-methods"
    DELETE = "delete"

    @property
    def label(self) -> str:
        return _ACTIONS[self][0]

    @property
    def privilege(self) -> Privilege:
        return _ACTIONS[self][1]

    @property
    def consequence(self) -> str:
        """What the confirmation page says will happen to each mailbox."""
        return _ACTIONS[self][2]


_ACTIONS = {
    BulkAction.APPROVE: (
        "Approve Email",
        Privilege.APPROVE_EMAIL,
        "Each mailbox's email address is marked approved, so that it may sync.",
    ),
    BulkAction.TEST_ENABLE: (
        "Test & Enable Mailboxes",
        Privilege.WRITE_MAILBOXES,
        "Each mailbox is tested with its real settings and enabled only if it passes; at "
        "most each server profile's maximum concurrent connections are tested at once.",
    ),
    BulkAction.DISABLE: (
        "Disable",
        Privilege.WRITE_MAILBOXES,
        "Each mailbox stops syncing until Test & Enable runs again.",
    ),
    BulkAction.DEFAULT_METHODS: (
        "Apply Default Email Settings",
        Privilege.WRITE_MAILBOXES,
        "Each mailbox takes the organization's default incoming and outgoing sync methods; "
        "a mailbox whose methods change is disabled until Test & Enable runs again.",
    ),
    BulkAction.DELETE: (
        "Delete",
        Privilege.WRITE_MAILBOXES,
        "Each mailbox is deleted with its credentials, alerts, folder rules and kept email. "
        "Its email activities stay. This cannot be undone.",
    ),
}


@dataclass(frozen=True)
class BulkOutcome:
    """What one action did to one mailbox."""

    mailbox_id: int
    address: str
    succeeded: bool
    outcome: str
    error: str | None = None


class MailboxBulkService:
    """Runs a command-bar action over a selection of mailboxes."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        admin: MailboxAdminService,
        clock: Clock,
    ) -> None:
        self._uow = uow_factory
        self._admin = admin
        self._clock = clock

    async def run(
        self, caller: Caller, action: BulkAction, mailbox_ids: Sequence[int]
    ) -> list[BulkOutcome]:
        """Do ``action`` to every mailbox; the outcomes in the order of ``mailbox_ids``."""
        caller.require(Privilege.READ_MAILBOXES)
        ids = list(dict.fromkeys(mailbox_ids))
        if action is BulkAction.TEST_ENABLE:
            return await self._test_and_enable(caller, ids)
        one = {
            BulkAction.APPROVE: self._approve,
            BulkAction.DISABLE: self._disable,
            BulkAction.DEFAULT_METHODS: self._default_methods,
            BulkAction.DELETE: self._delete,
        }[action]
        return [self._row(caller, action, mailbox_id, one) for mailbox_id in ids]

    def _row(
        self,
        caller: Caller,
        action: BulkAction,
        mailbox_id: int,
        one: Callable[[UnitOfWork, Mailbox], str],
    ) -> BulkOutcome:
        with self._uow() as uow:
            try:
                scope = caller.scope(action.privilege)
            except UserError as error:
                return BulkOutcome(mailbox_id, "", False, "failed", str(error))
            # One out of the caller's reach reads as missing, as everywhere else.
            mailbox = uow.mailboxes.get(mailbox_id, scope=scope)
            if mailbox is None:
                return BulkOutcome(mailbox_id, "", False, "skipped", "no such mailbox")
            try:
                outcome = one(uow, mailbox)
            except UserError as error:
                return BulkOutcome(mailbox_id, mailbox.address, False, "failed", str(error))
            uow.commit()
        return BulkOutcome(mailbox_id, mailbox.address, True, outcome)

    def _approve(self, uow: UnitOfWork, mailbox: Mailbox) -> str:
        if mailbox.is_approved:
            return "already approved"
        mailbox.approve_email()
        uow.mailboxes.save(mailbox)
        return "approved"

    def _disable(self, uow: UnitOfWork, mailbox: Mailbox) -> str:
        if not mailbox.enabled:
            return "already disabled"
        mailbox.enabled = False
        uow.mailboxes.save(mailbox)
        assert mailbox.id is not None  # noqa: S101 - stored mailboxes have ids
        text = "disabled by an administrator: run Test & Enable to sync again"
        uow.mailboxes.add_alert(mailbox.id, Alert(AlertLevel.INFORMATION, text, self._clock.now()))
        return "disabled"

    def _default_methods(self, uow: UnitOfWork, mailbox: Mailbox) -> str:
        config = uow.settings.get()
        methods = (config.default_incoming_method, config.default_outgoing_method)
        if methods == (mailbox.incoming_method, mailbox.outgoing_method):
            return "already uses the default sync methods"
        mailbox.incoming_method, mailbox.outgoing_method = methods
        untest(uow, mailbox, self._clock.now())
        uow.mailboxes.save(mailbox)
        return f"incoming {methods[0].value}, outgoing {methods[1].value}; run Test & Enable"

    def _delete(self, uow: UnitOfWork, mailbox: Mailbox) -> str:
        assert mailbox.id is not None  # noqa: S101 - stored mailboxes have ids
        for direction in Direction:
            uow.credentials.delete(CredentialKey(CredentialScope.MAILBOX, mailbox.id, direction))
        uow.mailboxes.delete(mailbox.id)
        return "deleted"

    async def _test_and_enable(self, caller: Caller, ids: list[int]) -> list[BulkOutcome]:
        scope = caller.reach(BulkAction.TEST_ENABLE.privilege)
        with self._uow() as uow:
            addresses = {
                i: m.address for i in ids if (m := uow.mailboxes.get(i, scope=scope)) is not None
            }
        try:
            caller.require(BulkAction.TEST_ENABLE.privilege)
            queue = self._admin.queue_test_and_enable
            if await asyncio.to_thread(queue, caller, list(addresses)) is not None:
                return [_queued(i, addresses.get(i)) for i in ids]
            tested = await self._admin.test_and_enable(caller, list(addresses))
        except UserError as error:  # not allowed, or deleted since it was selected
            return [_tested(i, addresses.get(i), None, str(error)) for i in ids]
        reports = {r.mailbox_id: r for r in tested}
        return [_tested(i, addresses.get(i), reports.get(i), None) for i in ids]


def _queued(mailbox_id: int, address: str | None) -> BulkOutcome:
    if address is None:
        return BulkOutcome(mailbox_id, "", False, "skipped", "no such mailbox")
    return BulkOutcome(mailbox_id, address, True, "queued", QUEUED_TEST)


def _tested(
    mailbox_id: int, address: str | None, report: TestReport | None, refused: str | None
) -> BulkOutcome:
    if address is None:
        return BulkOutcome(mailbox_id, "", False, "skipped", "no such mailbox")
    if report is None:
        return BulkOutcome(mailbox_id, address, False, "failed", refused or "not tested")
    if report.enabled:
        return BulkOutcome(mailbox_id, address, True, "enabled")
    problems = [
        f"{half}: {check.message}"
        for half, check in (("incoming", report.incoming), ("outgoing", report.outgoing))
        if check.status is TestStatus.FAILURE
    ]
    error = "; ".join(problems) or "not enabled: the address is not approved"
    return BulkOutcome(mailbox_id, address, False, "not enabled", error)
