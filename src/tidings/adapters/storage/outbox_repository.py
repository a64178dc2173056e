"""The outbox: email queued for sending, with how far each got."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.chunking import chunks
from tidings.adapters.task_queue.deferral import TransactionalJobs
from tidings.domain.activity import ActivityStatus
from tidings.domain.outgoing import OutboxPhase, SentCopyState
from tidings.domain.stored import OutboxItem

_O = t.outbox.c


class SqlOutboxRepository:
    """Queued, handed-over, sent and failed email of every mailbox. On PostgreSQL an email
    queued (or queued again) gets its send job in the same transaction."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._jobs = TransactionalJobs(connection)

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
                sent_copy=item.sent_copy,
                copy_attempts=item.copy_attempts,
            )
        )
        if item.phase is OutboxPhase.QUEUED:
            self._jobs.send_email(item.activity_id)

    def in_phase(self, phase: OutboxPhase, limit: int = 100, after: int = 0) -> list[OutboxItem]:
        """Up to ``limit`` items in ``phase`` whose activity id is above ``after``, in order."""
        rows = self._conn.execute(
            select(t.outbox)
            .where(_O.phase == phase.value, _O.activity_id > after)
            .order_by(_O.activity_id)
            .limit(limit)
        ).mappings()
        return [_item(r) for r in rows]

    def unfinished(self) -> list[int]:
        """Every email queued, being sent or handed over: the ids, in order."""
        phases = [
            p.value for p in (OutboxPhase.QUEUED, OutboxPhase.SENDING, OutboxPhase.HANDED_OVER)
        ]
        rows = self._conn.execute(
            select(_O.activity_id).where(_O.phase.in_(phases)).order_by(_O.activity_id)
        )
        return [row.activity_id for row in rows]

    def get(self, activity_id: int) -> OutboxItem | None:
        row = (
            self._conn.execute(select(t.outbox).where(_O.activity_id == activity_id))
            .mappings()
            .first()
        )
        return None if row is None else _item(row)

    def claim(self, activity_id: int, updated_at: datetime) -> bool:
        """Take a queued email for sending; ``False`` when another worker took it first."""
        taken = self._conn.execute(
            update(t.outbox)
            .where(_O.activity_id == activity_id, _O.phase == OutboxPhase.QUEUED.value)
            .values(phase=OutboxPhase.SENDING.value, updated_at=updated_at)
        ).rowcount
        if taken:
            self._set_status(activity_id, ActivityStatus.SENDING)
        return bool(taken)

    def set_phase(
        self,
        activity_id: int,
        phase: OutboxPhase,
        updated_at: datetime,
        *,
        error: str | None = None,
        attempted: bool = False,
        sent_copy: SentCopyState | None = None,
    ) -> None:
        values: dict[str, object] = {"phase": phase.value, "updated_at": updated_at}
        if error is not None:
            values["last_error"] = error
        if attempted:
            values["attempts"] = _O.attempts + 1
        if sent_copy is not None:
            values["sent_copy"] = sent_copy.value
        self._conn.execute(update(t.outbox).where(_O.activity_id == activity_id).values(values))
        self._set_status(activity_id, _ACTIVITY_STATUS[phase])

    def requeue_stalled(self, taken_before: datetime, updated_at: datetime) -> list[int]:
        """Email taken for sending before ``taken_before`` and never handed over, queued
        again; the ids."""
        ids = [
            row.activity_id
            for row in self._conn.execute(
                select(_O.activity_id).where(
                    _O.phase == OutboxPhase.SENDING.value, _O.updated_at < taken_before
                )
            )
        ]
        for activity_id in ids:
            self.set_phase(activity_id, OutboxPhase.QUEUED, updated_at)
        return ids

    def requeue(self, activity_id: int, updated_at: datetime) -> None:
        """A failed email queued again, its attempts counted afresh."""
        self._conn.execute(
            update(t.outbox)
            .where(_O.activity_id == activity_id)
            .values(
                phase=OutboxPhase.QUEUED.value, attempts=0, last_error=None, updated_at=updated_at
            )
        )
        self._set_status(activity_id, ActivityStatus.PENDING_SEND)
        self._jobs.send_email(activity_id)

    def copies_pending(self, limit: int = 100, after: int = 0) -> list[OutboxItem]:
        """Sent email whose Sent-folder copy is still to be saved."""
        rows = self._conn.execute(
            select(t.outbox)
            .where(
                _O.phase == OutboxPhase.SENT.value,
                _O.sent_copy == SentCopyState.PENDING.value,
                _O.activity_id > after,
            )
            .order_by(_O.activity_id)
            .limit(limit)
        ).mappings()
        return [_item(r) for r in rows]

    def set_sent_copy(
        self, activity_id: int, state: SentCopyState, *, attempted: bool = False
    ) -> None:
        values: dict[str, object] = {"sent_copy": state.value}
        if attempted:
            values["copy_attempts"] = _O.copy_attempts + 1
        self._conn.execute(update(t.outbox).where(_O.activity_id == activity_id).values(values))

    def phases(self, activity_ids: Sequence[int]) -> dict[int, OutboxPhase]:
        found: dict[int, OutboxPhase] = {}
        for chunk in chunks(sorted(set(activity_ids))):
            rows = self._conn.execute(
                select(_O.activity_id, _O.phase).where(_O.activity_id.in_(chunk))
            )
            found.update({row.activity_id: OutboxPhase(row.phase) for row in rows})
        return found

    def _set_status(self, activity_id: int, status: ActivityStatus) -> None:
        self._conn.execute(
            update(t.email_activities)
            .where(t.email_activities.c.id == activity_id)
            .values(status=status.value)
        )


def _item(r: Any) -> OutboxItem:
    return OutboxItem(
        activity_id=r["activity_id"],
        mailbox_id=r["mailbox_id"],
        raw=r["raw"],
        envelope_from=r["envelope_from"],
        recipients=tuple(r["recipients"]),
        phase=OutboxPhase(r["phase"]),
        attempts=r["attempts"],
        last_error=r["last_error"],
        sent_copy=r["sent_copy"],
        copy_attempts=r["copy_attempts"],
    )


_ACTIVITY_STATUS = {
    OutboxPhase.QUEUED: ActivityStatus.PENDING_SEND,
    OutboxPhase.SENDING: ActivityStatus.SENDING,
    OutboxPhase.HANDED_OVER: ActivityStatus.SENDING,
    OutboxPhase.SENT: ActivityStatus.SENT,
    OutboxPhase.FAILED: ActivityStatus.FAILED,
}
