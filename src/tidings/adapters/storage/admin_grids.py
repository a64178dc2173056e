"""The grids of the organization's administration in SQL: email server profiles (with how
many mailboxes use each) and users, filtered, sorted by any column, paged and counted in the
database. Reading either needs an Organization-level privilege: no scope narrows them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, func, or_, select

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.grid_query import contains, count_of, one_page, sorted_by
from tidings.adapters.storage.settings_repository import profile_from
from tidings.domain.grid import PageRequest, ProfileFilter, ProfileListing, Sort, UserFilter

_P = t.server_profiles.c
_U = t.users.c
_MAILBOXES = (
    select(func.count())
    .select_from(t.mailboxes)
    .where(t.mailboxes.c.profile_id == _P.id)
    .scalar_subquery()
)

PROFILE_SORT: dict[str, ColumnElement[Any]] = {
    "name": func.lower(_P.name),
    "kind": _P.kind,
    "incoming_host": func.lower(_P.incoming_host),
    "mailboxes": _MAILBOXES,
}
USER_SORT: dict[str, ColumnElement[Any]] = {
    "name": func.lower(_U.full_name),
    "email": _U.email,
    "status": _U.is_active,
}


def profile_conditions(query: ProfileFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if query.kind is not None:
        found.append(_P.kind == query.kind.value)
    if query.text and query.text.strip():
        text = query.text[:200]
        found.append(
            or_(
                contains(_P.name, text),
                contains(_P.incoming_host, text),
                contains(_P.outgoing_host, text),
            )
        )
    return found


def user_conditions(query: UserFilter) -> list[ColumnElement[bool]]:
    found: list[ColumnElement[bool]] = []
    if query.active is not None:
        found.append(_U.is_active.is_(query.active))
    if query.text and query.text.strip():
        text = query.text[:200]
        found.append(or_(contains(_U.full_name, text), contains(_U.email, text)))
    return found


class SqlProfileGrid:
    """Pages of the email server profile grid."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def _filtered(self, query: ProfileFilter, *columns: Any) -> Select[Any]:
        return select(*columns).where(*profile_conditions(query))

    def page(self, query: ProfileFilter, sort: Sort, page: PageRequest) -> list[ProfileListing]:
        statement = self._filtered(query, t.server_profiles, _MAILBOXES.label("mailbox_count"))
        statement = one_page(sorted_by(statement, PROFILE_SORT, sort, _P.id), page)
        rows = self._conn.execute(statement).mappings()
        return [
            ProfileListing(
                profile_from({c.name: row[c.name] for c in t.server_profiles.columns}),
                int(row["mailbox_count"]),
            )
            for row in rows
        ]

    def count(self, query: ProfileFilter) -> int:
        return count_of(self._conn, self._filtered(query, _P.id))


class SqlUserGrid:
    """Pages of the user grid, as user ids in the grid's order (the directory reads each
    user with its roles)."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def _filtered(self, query: UserFilter) -> Select[Any]:
        return select(_U.id).where(*user_conditions(query))

    def page(self, query: UserFilter, sort: Sort, page: PageRequest) -> list[int]:
        statement = one_page(sorted_by(self._filtered(query), USER_SORT, sort, _U.id), page)
        return [int(row.id) for row in self._conn.execute(statement)]

    def count(self, query: UserFilter) -> int:
        return count_of(self._conn, self._filtered(query))
