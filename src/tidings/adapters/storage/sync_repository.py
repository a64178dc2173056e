"""What the sync worker reads and records in one place: the mailboxes to sync with their
credentials and folder rules (a few queries for any number of mailboxes), and the state of
each folder it syncs, for other processes to read."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Select,
    Table,
    Text,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.mapping import mailbox_from
from tidings.adapters.storage.upsert import upsert
from tidings.domain.credentials import CredentialKey, CredentialScope, Direction
from tidings.domain.holding import Holder
from tidings.domain.mailbox import Mailbox
from tidings.domain.sync import FolderSyncState, SyncMode, WorkerBeat

_S = t.folder_sync_states.c

#: Everything the sync targets are made of: the settings, the server profiles, the
#: mailboxes, their folder rules and the credentials.
_TARGET_TABLES = (
    t.email_configuration,
    t.server_profiles,
    t.mailboxes,
    t.folder_rules,
    t.credentials,
)


def _rows_as_text(table: Table, dialect: str) -> ColumnElement[str]:
    """Every row of ``table`` as text, each value quoted, in ``id`` order, prefixed with the
    text's length: two different contents never read the same."""
    row: ColumnElement[str]
    if dialect == "postgresql":
        # A row cast to text quotes any value that holds a delimiter.
        row = cast(table.table_valued(), Text)
        rows = func.string_agg(row, aggregate_order_by(literal(","), table.c.id))
        source: FromClause = table
    else:
        source = select(table).order_by(table.c.id).subquery()
        values: list[ColumnElement[str]] = [func.quote(column, type_=Text) for column in source.c]
        row = functools.reduce(lambda text, value: text + "," + value, values)
        rows = func.group_concat(row, ";", type_=Text)
    text = func.coalesce(rows, "", type_=Text)
    return select(cast(func.length(text), Text) + ":" + text).select_from(source).scalar_subquery()


@functools.cache
def _mark_query(dialect: str) -> Select[tuple[str]]:
    parts = [_rows_as_text(table, dialect) for table in _TARGET_TABLES]
    content = functools.reduce(lambda text, part: text + "/" + part, parts)
    if dialect == "postgresql":
        # Digested where it is: a few dozen bytes cross, not every row.
        return select(func.encode(func.sha256(func.convert_to(content, "UTF8")), "hex"))
    return select(content)


class SqlSyncRepository:
    """Sync's reads in bulk; folder states, one row per mailbox and folder, overwritten."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def enabled_mailboxes(self) -> list[Mailbox]:
        """Enabled mailboxes, without their alerts (sync does not read them)."""
        m = t.mailboxes.c
        rows = self._conn.execute(select(t.mailboxes).where(m.enabled.is_(True))).mappings()
        return [mailbox_from(r) for r in rows]

    def sealed_credentials(self) -> dict[CredentialKey, tuple[str, str]]:
        """Every stored credential: user name and sealed secret, by where it is kept."""
        c = t.credentials.c
        rows = self._conn.execute(
            select(c.scope, c.scope_id, c.direction, c.username, c.sealed_secret)
        )
        return {
            CredentialKey(CredentialScope(r.scope), r.scope_id, Direction(r.direction)): (
                r.username,
                r.sealed_secret,
            )
            for r in rows
        }

    def tracked_folders(self) -> dict[int, list[str]]:
        """The folders with a folder-level tracking rule, by mailbox."""
        f = t.folder_rules.c
        found: dict[int, list[str]] = {}
        for row in self._conn.execute(select(f.mailbox_id, f.folder).order_by(f.folder)):
            found.setdefault(row.mailbox_id, []).append(row.folder)
        return found

    def targets_mark(self) -> str:
        """A digest of what the sync targets are read from, that changes whenever any of it
        does: one cheap query, where reading the targets maps every mailbox."""
        dialect = self._conn.dialect.name
        found = str(self._conn.execute(_mark_query(dialect)).scalar_one())
        if dialect == "postgresql":
            return found
        return hashlib.sha256(found.encode()).hexdigest()

    def save_state(self, state: FolderSyncState) -> None:
        self.save_states([state])

    def save_states(self, states: Sequence[FolderSyncState]) -> None:
        upsert(
            self._conn,
            t.folder_sync_states,
            ("mailbox_id", "folder"),
            [
                {
                    "mailbox_id": state.mailbox_id,
                    "folder": state.folder,
                    "mode": state.mode.value,
                    "updated_at": state.updated_at,
                    "checked_at": state.checked_at,
                    "backlog": state.backlog,
                    "first_sync_done": state.first_sync_done,
                    "first_sync_total": state.first_sync_total,
                    "last_error": state.last_error,
                }
                for state in states
            ],
        )

    def forget_state(self, mailbox_id: int, folder: str) -> None:
        self._conn.execute(
            delete(t.folder_sync_states).where(_S.mailbox_id == mailbox_id, _S.folder == folder)
        )

    def beat(self, beat: WorkerBeat) -> None:
        w = t.sync_workers.c
        found = self._conn.execute(
            update(t.sync_workers).where(w.worker_id == beat.worker_id).values(seen_at=beat.seen_at)
        ).rowcount
        if not found:
            self._conn.execute(
                insert(t.sync_workers).values(
                    worker_id=beat.worker_id,
                    host=beat.host,
                    pid=beat.pid,
                    started_at=beat.started_at,
                    seen_at=beat.seen_at,
                )
            )

    def forget_worker(self, worker_id: str) -> None:
        self._conn.execute(delete(t.sync_workers).where(t.sync_workers.c.worker_id == worker_id))

    def hold(self, mailbox_id: int, holder: Holder) -> None:
        h = t.mailbox_holders.c
        values = {"worker": holder.worker, "since": holder.since}
        where = h.mailbox_id == mailbox_id
        if not self._conn.execute(update(t.mailbox_holders).where(where).values(values)).rowcount:
            self._conn.execute(insert(t.mailbox_holders).values(mailbox_id=mailbox_id, **values))

    def let_go(self, mailbox_id: int, worker: str) -> None:
        h = t.mailbox_holders.c
        self._conn.execute(
            delete(t.mailbox_holders).where(h.mailbox_id == mailbox_id, h.worker == worker)
        )

    def live_workers(self, seen_after: datetime) -> list[WorkerBeat]:
        rows = self._conn.execute(
            select(t.sync_workers).where(t.sync_workers.c.seen_at > seen_after)
        ).mappings()
        return [
            WorkerBeat(r["worker_id"], r["host"], r["pid"], r["started_at"], r["seen_at"])
            for r in rows
        ]

    def holders(self) -> dict[int, Holder]:
        rows = self._conn.execute(select(t.mailbox_holders)).mappings()
        return {row["mailbox_id"]: Holder(row["worker"], row["since"]) for row in rows}

    def worker_last_seen(self) -> datetime | None:
        """When any sync worker last reported; None when none is known."""
        seen: datetime | None = self._conn.execute(
            select(func.max(t.sync_workers.c.seen_at))
        ).scalar()
        return seen

    def states(self) -> list[FolderSyncState]:
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
