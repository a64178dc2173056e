"""The figures behind readiness and /metrics, read with a few aggregate queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, case, func, select, text

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.schema_version import database_revision, head_revision
from tidings.domain.observability import (
    DecidedEmail,
    MailboxSyncFigures,
    MetricsSnapshot,
    deciding_rule,
)
from tidings.domain.sync import WORKER_SILENT_AFTER

#: Decisions read per scrape at most; a backlog larger than this is counted over scrapes.
DECISIONS_PER_READ = 50_000


class SqlMetricsReader:
    """Reads on its own short connections: a scrape never joins a unit of work."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def ping(self) -> None:
        with self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def schema_revision(self) -> tuple[str | None, str | None]:
        """The database's migration revision and the newest this code knows."""
        with self._engine.connect() as conn:
            return database_revision(conn), head_revision()

    def live_workers(self, now: datetime) -> int:
        with self._engine.connect() as conn:
            return _live_workers(conn, now)

    def decisions_after(self, last_id: int) -> list[DecidedEmail]:
        d = t.tracking_decisions.c
        query = (
            select(d.id, d.outcome, d.reasons)
            .where(d.id > last_id)
            .order_by(d.id)
            .limit(DECISIONS_PER_READ)
        )
        with self._engine.connect() as conn:
            return [
                DecidedEmail(row.id, row.outcome, deciding_rule(row.reasons or ()))
                for row in conn.execute(query)
            ]

    def snapshot(self, now: datetime) -> MetricsSnapshot:
        s, o = t.folder_sync_states.c, t.outbox.c
        per_mailbox = select(
            s.mailbox_id,
            func.sum(s.backlog).label("backlog"),
            func.min(s.checked_at).label("checked"),
            func.sum(case((s.checked_at.is_(None), 1), else_=0)).label("unchecked"),
        ).group_by(s.mailbox_id)
        oldest_queued = select(func.min(o.updated_at)).where(o.phase == "queued")
        with self._engine.connect() as conn:
            mailboxes = tuple(
                MailboxSyncFigures(
                    int(row.mailbox_id),
                    int(row.backlog or 0),
                    _seconds(now, row.checked) if not row.unchecked else None,
                )
                for row in conn.execute(per_mailbox)
            )
            oldest = conn.execute(oldest_queued).scalar_one()
            return MetricsSnapshot(
                folders_by_mode=_counts(conn, s.mode),
                mailboxes=mailboxes,
                outbox_by_phase=_counts(conn, o.phase),
                oldest_queued_seconds=_seconds(now, oldest),
                parked_by_stage=_counts(
                    conn, t.parked_emails.c.stage, t.parked_emails.c.error_type
                ),
                webhook_deliveries_by_status=_counts(conn, t.webhook_deliveries.c.status),
                live_workers=_live_workers(conn, now),
                activities_by_status=_counts(
                    conn, t.email_activities.c.direction, t.email_activities.c.status
                ),
            )


def _live_workers(conn: Connection, now: datetime) -> int:
    # One connection per read: on SQLite each begins by taking the write lock, so a second
    # one opened inside the first would wait for it.
    query = select(func.count()).where(t.sync_workers.c.seen_at > now - WORKER_SILENT_AFTER)
    return int(conn.execute(query).scalar_one())


def _counts(conn: Connection, *columns: ColumnElement[Any]) -> dict[tuple[str, ...], int]:
    """Rows counted by the values of ``columns``."""
    query = select(*columns, func.count()).group_by(*columns)
    return {tuple(str(v) for v in row[:-1]): int(row[-1]) for row in conn.execute(query)}


def _seconds(now: datetime, then: datetime | None) -> float | None:
    return None if then is None else max(0.0, (now - then).total_seconds())
