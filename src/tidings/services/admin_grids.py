"""The grids of the organization's administration: email server profiles and users, each a
page the database sorted, filtered and counted, or a whole view read a chunk at a time for
a CSV export. Both privileges are Organization-wide (docs/security-model.md): whoever holds
one sees every row."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from tidings.domain.grid import (
    EXPORT_CHUNK,
    GridPage,
    PageRequest,
    ProfileFilter,
    Sort,
    UserFilter,
    last_page,
)
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ServerProfile
from tidings.services.people import UserSummary, user_summary
from tidings.services.ports import UnitOfWork
from tidings.services.server_profiles import profile_warnings

T = TypeVar("T")


@dataclass(frozen=True)
class ProfileRow:
    """A row of the profile grid: never a password, only what the list shows."""

    profile: ServerProfile
    mailboxes: int
    warnings: list[str]


class AdminGridService:
    """Pages and exports of the profile and user grids."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow = uow_factory

    def profiles(
        self, caller: Caller, query: ProfileFilter, sort: Sort, page: PageRequest
    ) -> GridPage[ProfileRow]:
        """One page of the profiles; a page past the end shows the last one."""
        caller.require(Privilege.READ_SERVER_PROFILES)
        with self._uow() as uow:
            total = uow.profile_grid.count(query)
            page = last_page(page, total)
            return GridPage(self._profile_rows(uow, query, sort, page), total, page)

    def export_profiles(
        self, caller: Caller, query: ProfileFilter, sort: Sort
    ) -> Iterator[ProfileRow]:
        caller.require(Privilege.READ_SERVER_PROFILES)
        return self._chunks(lambda uow, page: self._profile_rows(uow, query, sort, page))

    def users(
        self, caller: Caller, query: UserFilter, sort: Sort, page: PageRequest
    ) -> GridPage[UserSummary]:
        """One page of the users with their roles; a page past the end shows the last one."""
        caller.require(Privilege.READ_USERS)
        with self._uow() as uow:
            total = uow.user_grid.count(query)
            page = last_page(page, total)
            return GridPage(self._user_rows(uow, query, sort, page), total, page)

    def export_users(self, caller: Caller, query: UserFilter, sort: Sort) -> Iterator[UserSummary]:
        caller.require(Privilege.READ_USERS)
        return self._chunks(lambda uow, page: self._user_rows(uow, query, sort, page))

    @staticmethod
    def _profile_rows(
        uow: UnitOfWork, query: ProfileFilter, sort: Sort, page: PageRequest
    ) -> list[ProfileRow]:
        return [
            ProfileRow(row.profile, row.mailboxes, profile_warnings(row.profile))
            for row in uow.profile_grid.page(query, sort, page)
        ]

    @staticmethod
    def _user_rows(
        uow: UnitOfWork, query: UserFilter, sort: Sort, page: PageRequest
    ) -> list[UserSummary]:
        roles = uow.directory.roles()
        found = (uow.directory.get_user(i) for i in uow.user_grid.page(query, sort, page))
        return [user_summary(user, roles) for user in found if user is not None]

    def _chunks(self, read: Callable[[UnitOfWork, PageRequest], list[T]]) -> Iterator[T]:
        """Every row, a chunk per short transaction, so a slow download holds no connection."""
        number = 1
        while True:
            with self._uow() as uow:
                rows = read(uow, PageRequest(number, EXPORT_CHUNK))
            yield from rows
            if len(rows) < EXPORT_CHUNK:
                return
            number += 1
