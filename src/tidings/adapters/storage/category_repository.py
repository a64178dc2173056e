"""Each kept email's tracked-category mark: whether the category is on it, whether Tidings
wrote it, and which tracked email still waits for Tidings to write it."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Select, and_, or_, select

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.among import among_values
from tidings.adapters.storage.grouped_select import by_groups, grouped_params
from tidings.adapters.storage.upsert import upsert
from tidings.domain.tracked_category import CategoryMark
from tidings.domain.tracking import Outcome

#: Ids per statement: far below every database's limit on parameters.
_CHUNK = 1000

_FOLDER = ("mailbox_id", "folder", "uidvalidity")
#: (mailbox id, folder, UIDVALIDITY): a folder's numbering.
FolderKey = tuple[int, str, int]


def _lacks_category() -> Any:
    """Tracked, and the category neither on the server (as last seen) nor written."""
    d, m = t.tracking_decisions.c, t.category_marks.c
    return and_(
        d.outcome == Outcome.TRACKED.value,
        or_(m.raw_message_id.is_(None), and_(m.present.is_(False), m.written_at.is_(None))),
    )


@functools.lru_cache(maxsize=64)
def _lacking_among_uids(groups: int, dialect: str) -> Select[Any]:
    r, d, m = t.raw_messages.c, t.tracking_decisions.c, t.category_marks.c
    return (
        by_groups(t.raw_messages, ("id", "uid", *_FOLDER), _FOLDER, "uid", groups, dialect)
        .join(t.tracking_decisions, d.raw_message_id == r.id)
        .outerjoin(t.category_marks, m.raw_message_id == r.id)
        .where(_lacks_category())
    )


class SqlCategoryMarkRepository:
    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def marks(self, raw_message_ids: Iterable[int]) -> dict[int, CategoryMark]:
        ids = sorted(set(raw_message_ids))
        found: dict[int, CategoryMark] = {}
        m = t.category_marks.c
        for first in range(0, len(ids), _CHUNK):
            chunk = ids[first : first + _CHUNK]
            rows = self._conn.execute(
                select(t.category_marks).where(
                    among_values(m.raw_message_id, chunk, self._conn.dialect.name)
                )
            ).mappings()
            for row in rows:
                found[row["raw_message_id"]] = CategoryMark(
                    raw_message_id=row["raw_message_id"],
                    present=row["present"],
                    changed_at=row["changed_at"],
                    written_at=row["written_at"],
                    seen=row["seen"],
                )
        return found

    def save(self, marks: Sequence[CategoryMark]) -> None:
        """Replace the marks of these emails."""
        if not marks:
            return
        upsert(
            self._conn,
            t.category_marks,
            ["raw_message_id"],
            [
                {
                    "raw_message_id": mark.raw_message_id,
                    "present": mark.present,
                    "written_at": mark.written_at,
                    "seen": mark.seen,
                    "changed_at": mark.changed_at,
                }
                for mark in marks
            ],
        )

    def to_write(
        self, mailbox_id: int, folder: str, uidvalidity: int, limit: int
    ) -> list[tuple[int, str]]:
        """(raw id, uid) of tracked email of this folder whose category is neither on the
        server (as last seen) nor written by Tidings, oldest first."""
        r, d, m = t.raw_messages.c, t.tracking_decisions.c, t.category_marks.c
        statement = (
            select(r.id, r.uid)
            .join(t.tracking_decisions, d.raw_message_id == r.id)
            .outerjoin(t.category_marks, m.raw_message_id == r.id)
            .where(
                r.mailbox_id == mailbox_id,
                r.folder == folder,
                r.uidvalidity == uidvalidity,
                _lacks_category(),
            )
            .order_by(r.id)
            .limit(limit)
        )
        return [(int(row.id), str(row.uid)) for row in self._conn.execute(statement)]

    def to_write_among(
        self, uids: Mapping[FolderKey, Sequence[str]], limit: int
    ) -> dict[FolderKey, list[tuple[int, str]]]:
        """``to_write`` of these UIDs of many folders, in as few statements as the bounds
        allow: the flag rounds of many pushed folders, each looking at its new UIDs."""
        found: dict[FolderKey, list[tuple[int, str]]] = {key: [] for key in uids}
        groups = ((key, list(values)) for key, values in uids.items() if values)
        for count, params in grouped_params(groups, _FOLDER, "uid", self._conn.dialect.name):
            statement = _lacking_among_uids(count, self._conn.dialect.name)
            for row in self._conn.execute(statement, params):
                key = (int(row.mailbox_id), str(row.folder), int(row.uidvalidity))
                found[key].append((int(row.id), str(row.uid)))
        # A folder's UIDs may span statements: the oldest first across them all.
        return {key: sorted(lacking)[:limit] for key, lacking in found.items()}
