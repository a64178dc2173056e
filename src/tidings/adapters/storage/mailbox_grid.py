"""The Mailboxes grid in SQL: mailboxes with their owner's and profile's names, filtered,
sorted by any column, paged and counted in the database."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, and_, func, or_, select

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.access_conditions import mailbox_condition
from tidings.adapters.storage.chunking import MAX_VALUES
from tidings.adapters.storage.grid_query import (
    contains,
    count_of,
    one_page,
    sorted_by,
)
from tidings.adapters.storage.mapping import mailbox_from
from tidings.domain.access_levels import Scope
from tidings.domain.grid import MailboxFilter, MailboxListing, PageRequest, Sort
from tidings.domain.mailbox import ApprovalStatus, TestStatus
from tidings.domain.mailbox_views import MailboxView
from tidings.domain.records import RecordKind

_M = t.mailboxes.c
_U = t.users.c
_Q = t.queues.c
_P = t.server_profiles.c
_OWNER_NAME = func.coalesce(_U.full_name, _Q.name)

#: What each sortable column of the grid sorts by.
SORT_COLUMNS: dict[str, ColumnElement[Any]] = {
    "address": _M.address,
    "owner": func.lower(_OWNER_NAME),
    "profile": func.lower(_P.name),
    "approval": _M.approval,
    "incoming_status": _M.incoming_status,
    "outgoing_status": _M.outgoing_status,
    "enabled": _M.enabled,
}


def _joined(*columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .select_from(t.mailboxes)
        .outerjoin(t.users, and_(_M.owner_kind == RecordKind.USER.value, _U.id == _M.owner_id))
        .outerjoin(t.queues, and_(_M.owner_kind == RecordKind.QUEUE.value, _Q.id == _M.owner_id))
        .outerjoin(t.server_profiles, _P.id == _M.profile_id)
    )


def view_condition(view: MailboxView) -> ColumnElement[bool] | None:
    """The SQL twin of ``domain.mailbox_views.in_view``."""
    if view is MailboxView.ACTIVE:
        return _M.enabled.is_(True)
    if view is MailboxView.DISABLED:
        return _M.enabled.is_(False)
    if view is MailboxView.PENDING_APPROVAL:
        return _M.approval == ApprovalStatus.PENDING.value
    if view is MailboxView.TEST_FAILED:
        failed = TestStatus.FAILURE.value
        return or_(_M.incoming_status == failed, _M.outgoing_status == failed)
    return None


def conditions(query: MailboxFilter) -> list[ColumnElement[bool]]:
    """The ``WHERE`` conditions of a filter; empty for every mailbox."""
    found: list[ColumnElement[bool]] = []
    in_view = view_condition(query.view)
    if in_view is not None:
        found.append(in_view)
    if query.approval is not None:
        found.append(_M.approval == query.approval.value)
    if query.incoming_status is not None:
        found.append(_M.incoming_status == query.incoming_status.value)
    if query.outgoing_status is not None:
        found.append(_M.outgoing_status == query.outgoing_status.value)
    if query.owner is not None:
        found.append(and_(_M.owner_kind == query.owner.kind.value, _M.owner_id == query.owner.id))
    if query.profile_id is not None:
        found.append(_M.profile_id == query.profile_id)
    if query.text and query.text.strip():
        text = query.text[:200]
        found.append(
            or_(contains(_M.address, text), contains(_OWNER_NAME, text), contains(_P.name, text))
        )
    return found


class SqlMailboxGrid:
    """Pages of the Mailboxes grid, each within a caller's ``scope`` (``None``: every
    mailbox, the server's own reading)."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def _filtered(self, query: MailboxFilter, scope: Scope | None, *columns: Any) -> Select[Any]:
        return _within(_joined(*columns).where(*conditions(query)), scope)

    def page(
        self, query: MailboxFilter, sort: Sort, page: PageRequest, *, scope: Scope | None = None
    ) -> list[MailboxListing]:
        statement = self._filtered(
            query,
            scope,
            t.mailboxes,
            _OWNER_NAME.label("owner_name"),
            _P.name.label("profile_name"),
        )
        statement = one_page(sorted_by(statement, SORT_COLUMNS, sort, _M.id), page)
        return [_listing(row) for row in self._conn.execute(statement).mappings()]

    def count(self, query: MailboxFilter, *, scope: Scope | None = None) -> int:
        return count_of(self._conn, self._filtered(query, scope, _M.id))

    def listings(
        self, mailbox_ids: Sequence[int], *, scope: Scope | None = None
    ) -> list[MailboxListing]:
        """These mailboxes (at most a chunk of them) as the grid shows them, by address."""
        statement = _within(
            _joined(t.mailboxes, _OWNER_NAME.label("owner_name"), _P.name.label("profile_name"))
            .where(_M.id.in_(list(mailbox_ids)[:MAX_VALUES]))
            .order_by(_M.address),
            scope,
        )
        return [_listing(row) for row in self._conn.execute(statement).mappings()]

    def ids(self, query: MailboxFilter, sort: Sort, *, scope: Scope | None = None) -> list[int]:
        """Every mailbox id of the view, in the grid's order: what "select all" means."""
        statement = sorted_by(self._filtered(query, scope, _M.id), SORT_COLUMNS, sort, _M.id)
        return [int(row.id) for row in self._conn.execute(statement)]


def _within(statement: Select[Any], scope: Scope | None) -> Select[Any]:
    condition = None if scope is None else mailbox_condition(scope)
    return statement if condition is None else statement.where(condition)


def _listing(row: Any) -> MailboxListing:
    columns = {c.name: row[c.name] for c in t.mailboxes.columns}
    return MailboxListing(mailbox_from(columns, ()), row["owner_name"], row["profile_name"])
