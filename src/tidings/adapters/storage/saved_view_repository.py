"""Personal views of the grids, each readable and changeable only by the user who saved it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tidings.adapters.storage import tables as t
from tidings.domain.errors import ConflictError
from tidings.domain.grid import SavedView

_V = t.saved_views.c


class SqlSavedViewRepository:
    """Saved views; every statement names the user, so one user never reaches another's."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def list(self, user_id: int, grid: str) -> list[SavedView]:
        rows = self._conn.execute(
            select(t.saved_views)
            .where(_V.user_id == user_id, _V.grid == grid)
            .order_by(_V.name, _V.id)
        ).mappings()
        return [_view(row) for row in rows]

    def get(self, user_id: int, view_id: int) -> SavedView | None:
        row = (
            self._conn.execute(select(t.saved_views).where(_V.user_id == user_id, _V.id == view_id))
            .mappings()
            .first()
        )
        return None if row is None else _view(row)

    def add(self, view: SavedView, saved_at: datetime) -> int:
        columns = {
            "user_id": view.user_id,
            "grid": view.grid,
            "name": view.name,
            "query": view.query,
            "created_at": saved_at,
        }
        try:
            with self._conn.begin_nested():
                result = self._conn.execute(insert(t.saved_views).values(columns))
        except IntegrityError as error:
            raise ConflictError(f"you already have a view named {view.name!r}") from error
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def rename(self, user_id: int, view_id: int, name: str) -> None:
        try:
            with self._conn.begin_nested():
                self._conn.execute(
                    update(t.saved_views)
                    .where(_V.user_id == user_id, _V.id == view_id)
                    .values(name=name)
                )
        except IntegrityError as error:
            raise ConflictError(f"you already have a view named {name!r}") from error

    def delete(self, user_id: int, view_id: int) -> None:
        self._conn.execute(delete(t.saved_views).where(_V.user_id == user_id, _V.id == view_id))


def _view(row: Any) -> SavedView:
    return SavedView(row["user_id"], row["grid"], row["name"], row["query"], row["id"])
