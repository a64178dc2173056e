"""Webhook subscriptions, the events outbox, and deliveries with every attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.chunking import chunks
from tidings.domain.webhooks import (
    DeliveryAttempt,
    DeliveryStatus,
    DueDelivery,
    EventType,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

_S = t.webhook_subscriptions.c
_E = t.webhook_events.c
_D = t.webhook_deliveries.c
_A = t.webhook_attempts.c
_KINDS = {kind.value for kind in EventType}


class SqlEventOutbox:
    """Events written in the transaction of the change they report, so none is lost."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._listened: frozenset[EventType] | None = None

    def listened(self) -> frozenset[EventType]:
        """Read once per unit of work: a unit of work is one transaction, and what it
        writes is judged by the subscriptions it saw."""
        if self._listened is None:
            rows = self._conn.execute(select(_S.events).where(_S.active.is_(True)))
            self._listened = frozenset(
                EventType(kind) for (kinds,) in rows for kind in kinds if kind in _KINDS
            )
        return self._listened

    def add(self, event: WebhookEvent) -> int:
        result = self._conn.execute(
            insert(t.webhook_events).values(
                type=event.type.value, payload=event.data, occurred_at=event.occurred_at
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]

    def add_many(self, events: Sequence[WebhookEvent]) -> None:
        """Events of one batch in one statement (executemany)."""
        if events:
            self._conn.execute(
                insert(t.webhook_events),
                [
                    {"type": e.type.value, "payload": e.data, "occurred_at": e.occurred_at}
                    for e in events
                ],
            )


class SqlWebhookRepository:
    """Subscriptions and deliveries; claims take row locks other workers skip (PostgreSQL)."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add_subscription(self, subscription: WebhookSubscription, sealed_secret: str) -> int:
        values = _subscription_columns(subscription) | {
            "sealed_secret": sealed_secret,
            "created_at": subscription.created_at,
            "owner_id": subscription.owner_id,
        }
        result = self._conn.execute(insert(t.webhook_subscriptions).values(values))
        subscription.id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return subscription.id

    def save_subscription(self, subscription: WebhookSubscription) -> None:
        self._conn.execute(
            update(t.webhook_subscriptions)
            .where(_S.id == subscription.id)
            .values(_subscription_columns(subscription))
        )

    def get_subscription(self, subscription_id: int) -> WebhookSubscription | None:
        row = self._conn.execute(
            select(t.webhook_subscriptions).where(_S.id == subscription_id)
        ).first()
        return _subscription(row) if row else None

    def subscriptions(self) -> list[WebhookSubscription]:
        rows = self._conn.execute(select(t.webhook_subscriptions).order_by(_S.id))
        return [_subscription(row) for row in rows]

    def delete_subscription(self, subscription_id: int) -> None:
        self._conn.execute(delete(t.webhook_subscriptions).where(_S.id == subscription_id))

    def undispatched_events(self, limit: int) -> list[WebhookEvent]:
        rows = self._conn.execute(
            select(t.webhook_events)
            .where(_E.dispatched_at.is_(None))
            .order_by(_E.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [WebhookEvent(EventType(r.type), dict(r.payload), r.occurred_at, r.id) for r in rows]

    def fan_out(self, wanted_by: dict[int, Sequence[int]], now: datetime) -> None:
        """For each event (by id), one pending delivery per subscription that wants it; the
        events leave the outbox, and those nobody asked for are dropped, so that unheard
        events do not pile up. A few statements for a whole round, however many events."""
        unheard = [event_id for event_id, wanting in wanted_by.items() if not wanting]
        heard = [event_id for event_id, wanting in wanted_by.items() if wanting]
        for part in chunks(unheard):
            self._conn.execute(delete(t.webhook_events).where(_E.id.in_(part)))
        deliveries = [
            {
                "event_id": event_id,
                "subscription_id": subscription_id,
                "status": DeliveryStatus.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for event_id in heard
            for subscription_id in wanted_by[event_id]
        ]
        if deliveries:
            self._conn.execute(insert(t.webhook_deliveries), deliveries)
        for part in chunks(heard):
            self._conn.execute(
                update(t.webhook_events).where(_E.id.in_(part)).values(dispatched_at=now)
            )

    def all_sealed(self) -> list[tuple[int, str]]:
        """(subscription id, sealed signing secret) of every subscription."""
        rows = self._conn.execute(select(_S.id, _S.sealed_secret))
        return [(r.id, r.sealed_secret) for r in rows]

    def replace_sealed(self, subscription_id: int, sealed: str) -> None:
        self._conn.execute(
            update(t.webhook_subscriptions)
            .where(_S.id == subscription_id)
            .values(sealed_secret=sealed)
        )

    def due(self, now: datetime, limit: int = 10_000) -> list[int]:
        """The pending deliveries whose time has come, oldest due first."""
        rows = self._conn.execute(
            select(_D.id)
            .where(_D.status == DeliveryStatus.PENDING.value, _D.next_attempt_at <= now)
            .order_by(_D.next_attempt_at, _D.id)
            .limit(limit)
        )
        return [row.id for row in rows]

    def give_up(self, delivery_id: int, error: str, at: datetime) -> None:
        """A pending delivery given up with ``error``, without a further try."""
        self._conn.execute(
            update(t.webhook_deliveries)
            .where(_D.id == delivery_id, _D.status == DeliveryStatus.PENDING.value)
            .values(
                status=DeliveryStatus.FAILED.value,
                next_attempt_at=None,
                last_error=error,
                updated_at=at,
            )
        )

    def claim_due(
        self, now: datetime, lease_until: datetime, limit: int, delivery_id: int | None = None
    ) -> list[DueDelivery]:
        """Pending deliveries whose time has come (only ``delivery_id``, if given), held
        until ``lease_until`` so that no other worker tries them meanwhile."""
        only = [] if delivery_id is None else [_D.id == delivery_id]
        rows = self._conn.execute(
            select(
                _D.id,
                _D.attempts,
                _S.url,
                _S.sealed_secret,
                _E.id.label("event_id"),
                _E.type,
                _E.payload,
                _E.occurred_at,
            )
            .join(t.webhook_subscriptions, _S.id == _D.subscription_id)
            .join(t.webhook_events, _E.id == _D.event_id)
            .where(_D.status == DeliveryStatus.PENDING.value, _D.next_attempt_at <= now, *only)
            .order_by(_D.next_attempt_at, _D.id)
            .limit(limit)
            .with_for_update(of=t.webhook_deliveries, skip_locked=True)
        ).all()
        for chunk in chunks([r.id for r in rows]):
            self._conn.execute(
                update(t.webhook_deliveries)
                .where(_D.id.in_(chunk))
                .values(next_attempt_at=lease_until)
            )
        return [
            DueDelivery(
                r.id,
                r.attempts,
                r.url,
                r.sealed_secret,
                WebhookEvent(EventType(r.type), dict(r.payload), r.occurred_at, r.event_id),
            )
            for r in rows
        ]

    def record_attempt(
        self,
        delivery_id: int,
        attempt: DeliveryAttempt,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
    ) -> None:
        updated = self._conn.execute(
            update(t.webhook_deliveries)
            .where(_D.id == delivery_id)
            .values(
                status=status.value,
                attempts=attempt.number,
                next_attempt_at=next_attempt_at,
                last_status_code=attempt.status_code,
                last_error=attempt.error,
                updated_at=attempt.attempted_at,
            )
        )
        if updated.rowcount == 0:
            return  # the subscription was deleted during the try
        self._conn.execute(
            insert(t.webhook_attempts).values(
                delivery_id=delivery_id,
                number=attempt.number,
                attempted_at=attempt.attempted_at,
                status_code=attempt.status_code,
                error=attempt.error,
            )
        )

    def deliveries(
        self,
        subscription_id: int,
        status: DeliveryStatus | None,
        limit: int,
        offset: int,
    ) -> list[WebhookDelivery]:
        query = (
            select(t.webhook_deliveries, _E.type)
            .join(t.webhook_events, _E.id == _D.event_id)
            .where(_D.subscription_id == subscription_id)
        )
        if status is not None:
            query = query.where(_D.status == status.value)
        rows = self._conn.execute(query.order_by(_D.id.desc()).limit(limit).offset(offset)).all()
        history = self._history([r.id for r in rows])
        return [_delivery(r, history.get(r.id, ())) for r in rows]

    def prune(self, occurred_before: datetime) -> int:
        """Forget events older than ``occurred_before`` once every delivery of theirs is
        finished, with those deliveries and their attempts; returns how many events."""
        pending = select(_D.event_id).where(_D.status == DeliveryStatus.PENDING.value)
        old = select(_E.id).where(
            _E.occurred_at < occurred_before,
            _E.dispatched_at.is_not(None),
            _E.id.not_in(pending),
        )
        ids = list(self._conn.execute(old).scalars())
        for chunk in chunks(ids):
            deliveries = select(_D.id).where(_D.event_id.in_(chunk))
            self._conn.execute(delete(t.webhook_attempts).where(_A.delivery_id.in_(deliveries)))
            self._conn.execute(delete(t.webhook_deliveries).where(_D.event_id.in_(chunk)))
            self._conn.execute(delete(t.webhook_events).where(_E.id.in_(chunk)))
        return len(ids)

    def _history(self, delivery_ids: list[int]) -> dict[int, tuple[DeliveryAttempt, ...]]:
        found: dict[int, list[DeliveryAttempt]] = {}
        if not delivery_ids:
            return {}
        rows = (
            row
            for chunk in chunks(delivery_ids)
            for row in self._conn.execute(
                select(t.webhook_attempts)
                .where(_A.delivery_id.in_(chunk))
                .order_by(_A.delivery_id, _A.number)
            )
        )
        for r in rows:
            found.setdefault(r.delivery_id, []).append(
                DeliveryAttempt(r.number, r.attempted_at, r.status_code, r.error)
            )
        return {key: tuple(value) for key, value in found.items()}


def _subscription_columns(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "url": subscription.url,
        "events": sorted(e.value for e in subscription.events),
        "active": subscription.active,
    }


def _subscription(row: Any) -> WebhookSubscription:
    return WebhookSubscription(
        url=row.url,
        events=frozenset(EventType(e) for e in row.events),
        active=row.active,
        created_at=row.created_at,
        id=row.id,
        owner_id=row.owner_id,
    )


def _delivery(row: Any, history: tuple[DeliveryAttempt, ...]) -> WebhookDelivery:
    return WebhookDelivery(
        id=row.id,
        event_id=row.event_id,
        event_type=EventType(row.type),
        subscription_id=row.subscription_id,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        created_at=row.created_at,
        history=history,
    )
