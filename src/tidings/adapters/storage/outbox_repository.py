"""The outbox: email queued for sending, with how far each got."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.chunking import chunks
from tidings.domain.activity import ActivityStatus
from tidings.domain.outgoing import OutboxPhase
from tidings.domain.stored import OutboxItem

_O = t.outbox.c


class SqlOutboxRepository:
    """Queued, handed-over, sent and failed email of every mailbox."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(self, item: OutboxItem, updated_at: datetime) -> None:
        self._conn.execute(
            insert(t.outbox).values(
                activity_id=item.activity_id,
                mailbox_id=item.mailbox_id,
                raw=item.raw,
                envelope_from=item.envelope_from,
                recipients=list(item.recipients),
                phase=item.phase.value,
                attempts=item.attempts,
                last_error=item.last_error,
                updated_at=updated_at,
            )
        )

    def in_phase(self, phase: OutboxPhase, limit: int = 100) -> list[OutboxItem]:
        rows = self._conn.execute(
            select(t.outbox).where(_O.phase == phase.value).order_by(_O.activity_id).limit(limit)
        ).mappings()
        return [
            OutboxItem(
                activity_id=r["activity_id"],
                mailbox_id=r["mailbox_id"],
                raw=r["raw"],
                envelope_from=r["envelope_from"],
                recipients=tuple(r["recipients"]),
                phase=OutboxPhase(r["phase"]),
                attempts=r["attempts"],
                last_error=r["last_error"],
            )
            for r in rows
        ]

    def set_phase(
        self,
        activity_id: int,
        phase: OutboxPhase,
        updated_at: datetime,
        *,
        error: str | None = None,
        attempted: bool = False,
    ) -> None:
        values: dict[str, object] = {"phase": phase.value, "updated_at": updated_at}
        if error is not None:
            values["last_error"] = error
        if attempted:
            values["attempts"] = _O.attempts + 1
        self._conn.execute(update(t.outbox).where(_O.activity_id == activity_id).values(values))
        status = _ACTIVITY_STATUS[phase]
        self._conn.execute(
            update(t.email_activities)
            .where(t.email_activities.c.id == activity_id)
            .values(status=status.value)
        )

    def phases(self, activity_ids: Sequence[int]) -> dict[int, OutboxPhase]:
        found: dict[int, OutboxPhase] = {}
        for chunk in chunks(sorted(set(activity_ids))):
            rows = self._conn.execute(
                select(_O.activity_id, _O.phase).where(_O.activity_id.in_(chunk))
            )
            found.update({row.activity_id: OutboxPhase(row.phase) for row in rows})
        return found


_ACTIVITY_STATUS = {
    OutboxPhase.QUEUED: ActivityStatus.PENDING_SEND,
    OutboxPhase.HANDED_OVER: ActivityStatus.SENDING,
    OutboxPhase.SENT: ActivityStatus.SENT,
    OutboxPhase.FAILED: ActivityStatus.FAILED,
}
