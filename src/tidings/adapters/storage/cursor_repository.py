"""Sync cursors: per mailbox and folder, how far the raw bytes are committed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.upsert import upsert
from tidings.domain.sync import FolderCursor

_C = t.folder_cursors.c


class SqlCursorRepository:
    """Folder cursors."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def get(self, mailbox_id: int, folder: str) -> FolderCursor | None:
        row = (
            self._conn.execute(
                select(t.folder_cursors).where(_C.mailbox_id == mailbox_id, _C.folder == folder)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return _cursor(row)

    def save(self, cursor: FolderCursor, updated_at: datetime) -> None:
        self.save_many([cursor], updated_at)

    def save_many(self, cursors: Sequence[FolderCursor], updated_at: datetime) -> None:
        upsert(
            self._conn,
            t.folder_cursors,
            ("mailbox_id", "folder"),
            [
                {
                    "mailbox_id": cursor.mailbox_id,
                    "folder": cursor.folder,
                    "uidvalidity": cursor.uidvalidity,
                    "last_uid": cursor.last_uid,
                    "highest_modseq": cursor.highest_modseq,
                    "token": cursor.token,
                    "updated_at": updated_at,
                }
                for cursor in cursors
            ],
        )

    def for_mailbox(self, mailbox_id: int) -> list[FolderCursor]:
        rows = self._conn.execute(
            select(t.folder_cursors).where(_C.mailbox_id == mailbox_id).order_by(_C.folder)
        ).mappings()
        return [_cursor(row) for row in rows]


def _cursor(row: Any) -> FolderCursor:
    return FolderCursor(
        mailbox_id=row["mailbox_id"],
        folder=row["folder"],
        uidvalidity=row["uidvalidity"],
        last_uid=row["last_uid"],
        highest_modseq=row["highest_modseq"],
        token=row["token"],
        synced_at=row["updated_at"],
    )
