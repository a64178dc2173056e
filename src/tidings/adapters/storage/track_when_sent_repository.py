"""Requests to track an email once it is sent, made in the App for Outlook."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tidings.adapters.storage import tables as t
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.track_when_sent import TrackWhenSent

_T = t.track_when_sent.c


class SqlTrackWhenSentRepository:
    """One row per token; a request asked again for the same draft replaces the first."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def save(self, intent: TrackWhenSent) -> None:
        values = {
            "user_id": intent.user_id,
            "regarding_kind": intent.regarding.kind.value if intent.regarding else None,
            "regarding_id": intent.regarding.id if intent.regarding else None,
            "created_at": intent.created_at,
        }
        done = self._conn.execute(
            update(t.track_when_sent)
            .where(_T.token == intent.token, _T.user_id == intent.user_id)
            .values(values)
        )
        if done.rowcount == 0:
            self._conn.execute(insert(t.track_when_sent).values(token=intent.token, **values))

    def by_tokens(self, tokens: Iterable[str]) -> dict[str, TrackWhenSent]:
        wanted = sorted(set(tokens))[:1000]
        if not wanted:
            return {}
        rows = self._conn.execute(select(t.track_when_sent).where(_T.token.in_(wanted)))
        return {row.token: _intent(row) for row in rows.mappings()}

    def delete(self, token: str) -> None:
        self._conn.execute(delete(t.track_when_sent).where(_T.token == token))


def _intent(row: Any) -> TrackWhenSent:
    regarding = (
        RecordRef(RecordKind(row["regarding_kind"]), row["regarding_id"])
        if row["regarding_kind"] is not None
        else None
    )
    return TrackWhenSent(row["token"], row["user_id"], regarding, row["created_at"], row["id"])
