"""Personal views: a user saves a grid's current filters and sort under a name, renames and
deletes them; nobody reads or changes another user's views."""

from __future__ import annotations

from collections.abc import Callable

from tidings.domain.errors import NotFoundError, ValidationError
from tidings.domain.grid import GRIDS, VIEW_NAME_LENGTH, SavedView
from tidings.domain.people import Caller
from tidings.services.changes import check_text
from tidings.services.ports import Clock, UnitOfWork

#: A saved query longer than this is no grid's: every grid's parameters fit well within it.
QUERY_LENGTH = 2000


class SavedViewService:
    """The caller's own saved views of one grid."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    def list(self, caller: Caller, grid: str) -> list[SavedView]:
        with self._uow() as uow:
            return uow.saved_views.list(_user(caller), _grid(grid))

    def require(self, caller: Caller, view_id: int) -> SavedView:
        """The caller's view ``view_id``; ``NotFoundError`` also for another user's."""
        with self._uow() as uow:
            view = uow.saved_views.get(_user(caller), view_id)
        if view is None:
            raise NotFoundError(f"you have no saved view with id {view_id}")
        return view

    def save(self, caller: Caller, grid: str, name: str, query: str) -> SavedView:
        """Keep ``query`` (the grid's URL query) under ``name`` for the caller."""
        if len(query) > QUERY_LENGTH:
            raise ValidationError("the view has too many filters to save")
        view = SavedView(_user(caller), _grid(grid), _name(name), query)
        with self._uow() as uow:
            view_id = uow.saved_views.add(view, self._clock.now())
            uow.commit()
        return SavedView(view.user_id, view.grid, view.name, view.query, view_id)

    def rename(self, caller: Caller, view_id: int, name: str) -> None:
        self.require(caller, view_id)
        with self._uow() as uow:
            uow.saved_views.rename(_user(caller), view_id, _name(name))
            uow.commit()

    def delete(self, caller: Caller, view_id: int) -> None:
        self.require(caller, view_id)
        with self._uow() as uow:
            uow.saved_views.delete(_user(caller), view_id)
            uow.commit()


def _user(caller: Caller) -> int:
    assert caller.user.id is not None  # noqa: S101 - a signed-in user is stored
    return caller.user.id


def _grid(grid: str) -> str:
    if grid not in GRIDS:
        raise ValidationError(f"unknown grid {grid[:40]!r}; choose one of {', '.join(GRIDS)}")
    return grid


def _name(name: str) -> str:
    name = check_text("name", name, VIEW_NAME_LENGTH).strip()
    if not name:
        raise ValidationError("name: give the view a name")
    return name
