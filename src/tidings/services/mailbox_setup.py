"""Mailbox records: the views of the Mailboxes list, creating a mailbox for a user or queue,
and changing its address, profile and sync methods.

Approve Email, credentials and Test & Enable live in ``mailboxes.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from tidings.domain.access_levels import Scope
from tidings.domain.credentials import CredentialKey, CredentialScope, Direction
from tidings.domain.errors import ConflictError, FieldValueError, NotFoundError, ValidationError
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.grid import (
    EXPORT_CHUNK,
    GridPage,
    MailboxFilter,
    MailboxListing,
    PageRequest,
    Sort,
    last_page,
)
from tidings.domain.mailbox import Alert, AlertLevel, Mailbox, TestStatus
from tidings.domain.mailbox_views import MailboxView, in_view
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordKind, RecordRef, is_email_address, normalize_address
from tidings.domain.settings import SyncMethod
from tidings.services.changes import apply_changes, check_text
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.scope import require_owner_in_reach

#: What an admin may change on a mailbox; approval and test results have their own actions.
EDITABLE = ("address", "profile_id", "incoming_method", "outgoing_method")


@dataclass(frozen=True)
class MailboxDetail:
    """A mailbox with the names an admin reads next to it; no password, only user names."""

    mailbox: Mailbox
    owner_name: str | None
    profile_name: str | None
    folder_rules: list[FolderTrackingRule]
    credential_usernames: dict[Direction, str]
    #: A Test & Enable waits for a worker or runs on one (PostgreSQL): the results shown
    #: are those of the test before, until it has run (D365's "test scheduled").
    test_scheduled: bool = False


#: One line of the Mailboxes list: the mailbox with its owner's and profile's names.
MailboxRow = MailboxListing


class MailboxSetupService:
    """Listing, creating and changing mailboxes, privileges checked on every call."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    def list_mailboxes(
        self, caller: Caller, view: MailboxView | str = MailboxView.ALL
    ) -> list[Mailbox]:
        """The mailboxes in one of the system views that the caller may read, by address."""
        scope = caller.scope(Privilege.READ_MAILBOXES)
        chosen = _view(view)
        with self._uow() as uow:
            return [m for m in uow.mailboxes.all(scope=scope) if in_view(m, chosen)]

    def list_rows(
        self, caller: Caller, view: MailboxView | str = MailboxView.ALL
    ) -> list[MailboxRow]:
        """The mailboxes in one view with the names a list shows, read in a few queries."""
        scope = caller.scope(Privilege.READ_MAILBOXES)
        chosen = _view(view)
        with self._uow() as uow:
            mailboxes = [m for m in uow.mailboxes.all(scope=scope) if in_view(m, chosen)]
            owners = uow.directory.summaries({m.owner for m in mailboxes})
            profiles = {p.id: p.name for p in uow.server_profiles.all()}
        return [
            MailboxRow(
                m,
                owners[m.owner].name if m.owner in owners else None,
                profiles.get(m.profile_id) if m.profile_id else None,
            )
            for m in mailboxes
        ]

    def rows_of_profile(self, caller: Caller, profile_id: int) -> list[MailboxRow]:
        """The mailboxes using one server profile that the caller may read, for its page's
        subgrid, by address."""
        scope = caller.scope(Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            mailboxes = [m for m in uow.mailboxes.all(scope=scope) if m.profile_id == profile_id]
            owners = uow.directory.summaries({m.owner for m in mailboxes})
            profile = uow.server_profiles.get(profile_id)
        name = profile.name if profile else None
        return [
            MailboxRow(m, owners[m.owner].name if m.owner in owners else None, name)
            for m in mailboxes
        ]

    def grid(
        self, caller: Caller, query: MailboxFilter, sort: Sort, page: PageRequest
    ) -> GridPage[MailboxListing]:
        """One page of the Mailboxes grid the caller may read and the view's total, sorted
        and counted by the database; a page past the end shows the last one."""
        scope = caller.scope(Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            total = uow.mailbox_grid.count(query, scope=scope)
            page = last_page(page, total)
            return GridPage(uow.mailbox_grid.page(query, sort, page, scope=scope), total, page)

    def ids_in_view(self, caller: Caller, query: MailboxFilter, sort: Sort) -> list[int]:
        """Every mailbox of a view the caller may read: what "select all in this view" acts
        on."""
        scope = caller.scope(Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            return uow.mailbox_grid.ids(query, sort, scope=scope)

    def listings(self, caller: Caller, mailbox_ids: Sequence[int]) -> list[MailboxListing]:
        """A few mailboxes by id (a confirmation page's list), by address; those out of the
        caller's reach are left out."""
        scope = caller.scope(Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            return uow.mailbox_grid.listings(mailbox_ids, scope=scope)

    def export(self, caller: Caller, query: MailboxFilter, sort: Sort) -> Iterator[MailboxListing]:
        """Every row of a view in the grid's order, read a chunk at a time (each in its own
        short transaction, so a slow download holds no connection)."""
        return self._chunks(query, sort, caller.scope(Privilege.READ_MAILBOXES))

    def _chunks(
        self, query: MailboxFilter, sort: Sort, scope: Scope | None
    ) -> Iterator[MailboxListing]:
        number = 1
        while True:
            with self._uow() as uow:
                request = PageRequest(number, EXPORT_CHUNK)
                rows = uow.mailbox_grid.page(query, sort, request, scope=scope)
            yield from rows
            if len(rows) < EXPORT_CHUNK:
                return
            number += 1

    def get(self, caller: Caller, mailbox_id: int) -> MailboxDetail:
        scope = caller.scope(Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            return _detail(uow, _require(uow, mailbox_id, scope))

    def create(
        self,
        caller: Caller,
        *,
        address: str,
        owner: RecordRef,
        profile_id: int | str | None = None,
        incoming_method: SyncMethod | str | None = None,
        outgoing_method: SyncMethod | str | None = None,
    ) -> MailboxDetail:
        """A mailbox for a user or queue, pending approval; the org's default sync methods
        unless others are given."""
        scope = caller.scope(Privilege.WRITE_MAILBOXES)
        with self._uow() as uow:
            _check_owner(uow, owner)
            require_owner_in_reach(uow, scope, owner)
            mailbox = add_mailbox(
                uow, address=address, owner=owner, profile_id=profile_id,
                incoming_method=incoming_method, outgoing_method=outgoing_method,
            )  # fmt: skip
            uow.commit()
            return _detail(uow, mailbox)

    def update(
        self, caller: Caller, mailbox_id: int, changes: Mapping[str, object]
    ) -> MailboxDetail:
        """Change the address (approval starts again), the profile or the sync methods
        (Test & Enable must run again before the mailbox syncs)."""
        scope = caller.scope(Privilege.WRITE_MAILBOXES)
        with self._uow() as uow:
            mailbox = _require(uow, mailbox_id, scope)
            changed = apply_changes(mailbox, changes, EDITABLE)
            if "address" in changes:
                address = _check_address(changed.address)
                other = uow.mailboxes.get_by_address(address)
                if other is not None and other.id != mailbox_id:
                    raise ConflictError(f"a mailbox with the address {address} exists")
                mailbox.change_address(address)
            _check_profile(uow, changed.profile_id)
            connection = (changed.profile_id, changed.incoming_method, changed.outgoing_method)
            if connection != (mailbox.profile_id, mailbox.incoming_method, mailbox.outgoing_method):
                mailbox.profile_id, mailbox.incoming_method, mailbox.outgoing_method = connection
                untest(uow, mailbox, self._clock.now())
            uow.mailboxes.save(mailbox)
            uow.commit()
            return _detail(uow, _require(uow, mailbox_id))


def add_mailbox(
    uow: UnitOfWork,
    *,
    address: str,
    owner: RecordRef,
    profile_id: int | str | None = None,
    incoming_method: SyncMethod | str | None = None,
    outgoing_method: SyncMethod | str | None = None,
) -> Mailbox:
    """A new mailbox pending approval, added in the caller's transaction (not committed):
    one address and one mailbox per owner; the org's default sync methods unless given."""
    address = _check_address(address)
    if uow.mailboxes.get_by_owner(owner) is not None:
        raise ConflictError(f"{owner} already has a mailbox")
    if uow.mailboxes.get_by_address(address) is not None:
        raise ConflictError(f"a mailbox with the address {address} exists")
    config = uow.settings.get()
    given: dict[str, object] = {
        "profile_id": profile_id,
        "incoming_method": incoming_method or config.default_incoming_method,
        "outgoing_method": outgoing_method or config.default_outgoing_method,
    }
    mailbox = apply_changes(Mailbox(address, owner), given, EDITABLE)
    _check_profile(uow, mailbox.profile_id)
    uow.mailboxes.add(mailbox)
    return mailbox


def untest(uow: UnitOfWork, mailbox: Mailbox, now: datetime) -> None:
    """A mailbox whose connection changed is disabled until tested again."""
    was_enabled = mailbox.enabled
    mailbox.record_test(incoming=TestStatus.NOT_RUN, outgoing=TestStatus.NOT_RUN, alerts=[])
    mailbox.enabled = False
    if was_enabled:
        assert mailbox.id is not None  # noqa: S101 - stored mailboxes have ids
        text = "the connection settings changed: run Test & Enable again"
        uow.mailboxes.add_alert(mailbox.id, Alert(AlertLevel.WARNING, text, now))


def _view(view: MailboxView | str) -> MailboxView:
    try:
        return MailboxView(view)
    except ValueError:
        names = ", ".join(v.value for v in MailboxView)
        raise ValidationError(f"unknown view {view!r}; choose one of {names}") from None


def _check_address(address: str) -> str:
    if not is_email_address(normalize_address(check_text("address", address, 320))):
        problem = f"{address!r} is not an email address"
        raise FieldValueError({"address": problem}, problem)
    return normalize_address(address)


def _check_owner(uow: UnitOfWork, owner: RecordRef) -> None:
    if owner.kind not in (RecordKind.USER, RecordKind.QUEUE):
        raise ValidationError("a mailbox belongs to a user or a queue")
    if not uow.directory.exists(owner):
        raise NotFoundError(f"no {owner.kind.value} with id {owner.id}")


def _check_profile(uow: UnitOfWork, profile_id: int | None) -> None:
    if profile_id is not None and uow.server_profiles.get(profile_id) is None:
        raise NotFoundError(f"no server profile with id {profile_id}")


def _detail(uow: UnitOfWork, mailbox: Mailbox) -> MailboxDetail:
    assert mailbox.id is not None  # noqa: S101 - stored mailboxes have ids
    summary = uow.directory.summaries([mailbox.owner]).get(mailbox.owner)
    profile = uow.server_profiles.get(mailbox.profile_id) if mailbox.profile_id else None
    usernames = {}
    for direction in Direction:
        found = uow.credentials.get(CredentialKey(CredentialScope.MAILBOX, mailbox.id, direction))
        if found is not None:
            usernames[direction] = found[0]
    return MailboxDetail(
        mailbox,
        summary.name if summary else None,
        profile.name if profile else None,
        uow.mailboxes.folder_rules(mailbox.id),
        usernames,
        mailbox.id in uow.jobs.tests_pending([mailbox.id]),
    )


def _require(uow: UnitOfWork, mailbox_id: int, scope: Scope | None = None) -> Mailbox:
    mailbox = uow.mailboxes.get(mailbox_id, scope=scope)
    if mailbox is None:
        raise NotFoundError(f"no mailbox with id {mailbox_id}")
    return mailbox
