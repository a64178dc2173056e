"""Drafts written in the CRM: what they answer, their attachments and idempotency keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.activity_repository import _attachment_columns, _party_columns
from tidings.adapters.storage.mapping import ref_columns
from tidings.domain.activity import ActivityStatus, Attachment, EmailActivity
from tidings.domain.compose import Composition, DraftAttachment, RememberedRequest, ReplyMode
from tidings.domain.errors import ConflictError

_C = t.email_compositions.c
_K = t.idempotency_keys.c
_X = t.attachments.c


class SqlComposeRepository:
    """Email written in the CRM, before and while it is sent."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add_composition(self, composition: Composition) -> None:
        self._conn.execute(
            insert(t.email_compositions).values(
                activity_id=composition.activity_id,
                original_id=composition.original_id,
                mode=composition.mode.value if composition.mode else None,
                references=" ".join(composition.references),
                created_by=composition.created_by,
            )
        )

    def composition(self, activity_id: int) -> Composition | None:
        row = self._conn.execute(
            select(t.email_compositions).where(_C.activity_id == activity_id)
        ).first()
        if row is None:
            return None
        return Composition(
            activity_id=row.activity_id,
            original_id=row.original_id,
            mode=ReplyMode(row.mode) if row.mode else None,
            references=tuple(row.references.split()),
            created_by=row.created_by,
        )

    def save_draft(self, activity: EmailActivity) -> None:
        """The draft's subject, bodies, regarding and parties as given."""
        assert activity.id is not None  # noqa: S101 - a saved draft has its id
        self._conn.execute(
            update(t.email_activities)
            .where(t.email_activities.c.id == activity.id)
            .values(
                subject=activity.subject,
                subject_key=activity.subject_key,
                text_body=activity.text_body,
                html_body=activity.html_body,
                tracking_token=activity.tracking_token,
                **ref_columns("regarding", activity.regarding),
            )
        )
        parties = t.activity_parties
        self._conn.execute(delete(parties).where(parties.c.activity_id == activity.id))
        if activity.parties:
            self._conn.execute(
                insert(parties), [_party_columns(activity.id, p) for p in activity.parties]
            )

    def set_status(self, activity_id: int, status: ActivityStatus) -> None:
        self._conn.execute(
            update(t.email_activities)
            .where(t.email_activities.c.id == activity_id)
            .values(status=status.value)
        )

    def attachments(self, activity_id: int) -> list[DraftAttachment]:
        rows = self._conn.execute(
            select(t.attachments).where(_X.activity_id == activity_id).order_by(_X.id)
        ).mappings()
        return [
            DraftAttachment(
                r["id"],
                Attachment(
                    filename=r["filename"],
                    content_type=r["content_type"],
                    size=r["size"],
                    blocked_reason=r["blocked_reason"],
                    content_id=r["content_id"],
                    content=r["content"],
                ),
            )
            for r in rows
        ]

    def add_attachment(self, activity_id: int, attachment: Attachment) -> int:
        result = self._conn.execute(
            insert(t.attachments).values(_attachment_columns(activity_id, attachment))
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def remove_attachment(self, activity_id: int, attachment_id: int) -> bool:
        removed = self._conn.execute(
            delete(t.attachments).where(_X.activity_id == activity_id, _X.id == attachment_id)
        ).rowcount
        return bool(removed)

    def remembered(self, user_id: int, operation: str, key: str) -> RememberedRequest | None:
        row = self._conn.execute(
            select(_K.fingerprint, _K.activity_id).where(
                _K.user_id == user_id, _K.operation == operation, _K.key == key
            )
        ).first()
        if row is None:
            return None
        return RememberedRequest(operation, key, row.fingerprint, row.activity_id)

    def remember(self, user_id: int, request: RememberedRequest, at: datetime) -> None:
        """Keep a key; a concurrent request that kept it first raises ``ConflictError``."""
        try:
            with self._conn.begin_nested():
                self._conn.execute(
                    insert(t.idempotency_keys).values(
                        user_id=user_id,
                        operation=request.operation,
                        key=request.key,
                        fingerprint=request.fingerprint,
                        activity_id=request.activity_id,
                        created_at=at,
                    )
                )
        except IntegrityError as error:
            raise ConflictError(
                "a request with this Idempotency-Key is being handled; try again"
            ) from error
