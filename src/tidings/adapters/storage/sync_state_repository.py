"""Folder sync states: what the sync worker is doing with each folder, for other processes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from tidings.adapters.storage import tables as t
from tidings.domain.sync import FolderSyncState, SyncMode

_S = t.folder_sync_states.c


class SqlSyncStateRepository:
    """One row per mailbox and folder, overwritten as sync moves on."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def save(self, state: FolderSyncState) -> None:
        values = {
            "mode": state.mode.value,
            "updated_at": state.updated_at,
            "checked_at": state.checked_at,
            "backlog": state.backlog,
            "first_sync_done": state.first_sync_done,
            "first_sync_total": state.first_sync_total,
            "last_error": state.last_error,
        }
        where = (_S.mailbox_id == state.mailbox_id, _S.folder == state.folder)
        if self._conn.execute(update(t.folder_sync_states).where(*where).values(values)).rowcount:
            return
        self._conn.execute(
            insert(t.folder_sync_states).values(
                mailbox_id=state.mailbox_id, folder=state.folder, **values
            )
        )

    def all(self) -> list[FolderSyncState]:
        rows = self._conn.execute(
            select(t.folder_sync_states).order_by(_S.mailbox_id, _S.folder)
        ).mappings()
        return [_state(row) for row in rows]


def _state(row: Any) -> FolderSyncState:
    return FolderSyncState(
        mailbox_id=row["mailbox_id"],
        folder=row["folder"],
        mode=SyncMode(row["mode"]),
        updated_at=row["updated_at"],
        checked_at=row["checked_at"],
        backlog=row["backlog"],
        first_sync_done=row["first_sync_done"],
        first_sync_total=row["first_sync_total"],
        last_error=row["last_error"],
    )
