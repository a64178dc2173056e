"""Webhook subscriptions managed by an admin, and their delivery by the worker.

The worker's loop moves each event from the outbox to one delivery per active
subscription that asked for its type (``dispatch``), then tries every delivery whose time
has come (``deliver_due``): a signed POST, retried with backoff until ``RetryPolicy``
gives up. Each try is kept, with its status code or error, for the API to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from tidings.domain.access_levels import Scope
from tidings.domain.errors import NotFoundError, TidingsError, WebhookSendError
from tidings.domain.people import Caller, Privilege
from tidings.domain.retry import RetryLater
from tidings.domain.webhooks import (
    SIGNATURE_HEADER,
    DeliveryAttempt,
    DeliveryStatus,
    DueDelivery,
    RetryPolicy,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
    check_events,
    check_url,
    sign,
)
from tidings.services.access import caller_as
from tidings.services.ports import Clock, SecretBox, UnitOfWork, WebhookSender, WebhookTargets

log = logging.getLogger(__name__)

#: Deliveries tried at once by one worker.
BATCH = 50


@dataclass(frozen=True)
class NewSubscription:
    """A subscription just created, with its secret: shown this once, never again."""

    subscription: WebhookSubscription
    secret: str


class WebhookService:
    """Subscriptions (WRITE_SETTINGS to change, READ_SETTINGS to see) and delivery."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        secret_box: SecretBox,
        sender: WebhookSender,
        clock: Clock,
        policy: RetryPolicy | None = None,
        jitter: Callable[[], float] = random.random,
        retention: timedelta = timedelta(days=30),
        targets: WebhookTargets | None = None,
    ) -> None:
        self._uow = uow_factory
        self._box = secret_box
        self._sender = sender
        self._clock = clock
        self.policy = policy or RetryPolicy()
        self._jitter = jitter
        #: How long finished deliveries stay visible before the worker forgets them.
        self.retention = retention
        self._pruned_at: datetime | None = None
        #: Where receivers may be: checked on subscribing (and by the sender on delivery).
        self._targets = targets

    # Subscriptions ----------------------------------------------------------------------

    def create(
        self, caller: Caller, url: str, events: list[str], *, active: bool = True
    ) -> NewSubscription:
        caller.require(Privilege.WRITE_SETTINGS)
        subscription = WebhookSubscription(
            self._check_url(url),
            check_events(events),
            active,
            self._clock.now(),
            owner_id=caller.user.id,
        )
        secret = f"whsec_{secrets.token_urlsafe(32)}"
        with self._uow() as uow:
            uow.webhooks.add_subscription(subscription, self._box.seal(secret))
            uow.commit()
        return NewSubscription(subscription, secret)

    def subscriptions(self, caller: Caller) -> list[WebhookSubscription]:
        caller.require(Privilege.READ_SETTINGS)
        with self._uow() as uow:
            return uow.webhooks.subscriptions()

    def get(self, caller: Caller, subscription_id: int) -> WebhookSubscription:
        caller.require(Privilege.READ_SETTINGS)
        with self._uow() as uow:
            return _require(uow, subscription_id)

    def update(
        self,
        caller: Caller,
        subscription_id: int,
        *,
        url: str | None = None,
        events: list[str] | None = None,
        active: bool | None = None,
    ) -> WebhookSubscription:
        caller.require(Privilege.WRITE_SETTINGS)
        with self._uow() as uow:
            subscription = _require(uow, subscription_id)
            if url is not None:
                subscription.url = self._check_url(url)
            if events is not None:
                subscription.events = check_events(events)
            if active is not None:
                subscription.active = active
            uow.webhooks.save_subscription(subscription)
            uow.commit()
        return subscription

    def delete(self, caller: Caller, subscription_id: int) -> None:
        """Remove a subscription with its deliveries."""
        caller.require(Privilege.WRITE_SETTINGS)
        with self._uow() as uow:
            _require(uow, subscription_id)
            uow.webhooks.delete_subscription(subscription_id)
            uow.commit()

    def deliveries(
        self,
        caller: Caller,
        subscription_id: int,
        status: DeliveryStatus | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[WebhookDelivery]:
        """A subscription's deliveries, newest first, each with every attempt."""
        caller.require(Privilege.READ_SETTINGS)
        with self._uow() as uow:
            _require(uow, subscription_id)
            return uow.webhooks.deliveries(subscription_id, status, limit, offset)

    def _check_url(self, url: str) -> str:
        url = check_url(url)
        if self._targets is not None:
            self._targets.check(url)
        return url

    # Delivery ---------------------------------------------------------------------------

    def dispatch(self, limit: int = 500) -> int:
        """Hand outbox events to the subscriptions that want them; returns how many."""
        with self._uow() as uow:
            events = uow.webhooks.undispatched_events(limit)
            if not events:
                return 0
            subscriptions = [s for s in uow.webhooks.subscriptions() if s.active]
            readable = {s.id: _readable(uow, s, events) for s in subscriptions}
            wanted_by: dict[int, Sequence[int]] = {}
            for event in events:
                assert event.id is not None  # noqa: S101 - read from storage
                wanted_by[event.id] = [
                    s.id
                    for s in subscriptions
                    if event.type in s.events and s.id and readable[s.id](event)
                ]
            uow.webhooks.fan_out(wanted_by, self._clock.now())
            uow.commit()
        return len(events)

    async def deliver_due(self) -> list[DeliveryAttempt]:
        """Try every delivery whose time has come, at once; returns the attempts made."""
        now = self._clock.now()
        # Held long enough for the slowest try; a worker that dies frees them by then.
        lease = now + self.policy.timeout * 2 + timedelta(seconds=30)
        due = await asyncio.to_thread(self._claim, now, lease)
        tried = await asyncio.gather(*(self._try(d) for d in due))
        return [attempt for attempt, _ in tried]

    # As tasks (PostgreSQL) ---------------------------------------------------------------

    async def deliver_one(self, delivery_id: int) -> DeliveryAttempt | None:
        """One try of one delivery: the body of its ``deliver_webhook`` task. Nothing is
        done for a delivery that is delivered, given up, not yet due or being tried by
        another run (its lease), so a task run twice posts once. A failed try is recorded
        as the loop records it, then ``RetryLater`` waits the policy's back-off; the
        policy's last attempt fails the delivery with the error."""
        now = self._clock.now()
        lease = now + self.policy.timeout * 2 + timedelta(seconds=30)
        due = await asyncio.to_thread(self._claim, now, lease, delivery_id)
        if not due:
            return None
        attempt, next_at = await self._try(due[0])
        if next_at is not None:
            wait = (next_at - self._clock.now()).total_seconds()
            raise RetryLater(attempt.error or "not delivered", max(wait, 1.0))
        return attempt

    async def give_up(self, delivery_id: int, reason: str) -> None:
        """The delivery's task failed for the last time: given up with ``reason``."""

        def record() -> None:
            with self._uow() as uow:
                uow.webhooks.give_up(delivery_id, reason, self._clock.now())
                uow.commit()

        await asyncio.to_thread(record)

    async def sweep(self, defer: Callable[[Collection[int]], Awaitable[int]]) -> int:
        """Every few seconds, by one worker: events handed to their subscriptions, and a
        task for each due delivery that has none waiting or running (``defer``)."""
        await asyncio.to_thread(self.dispatch)
        return await defer(await asyncio.to_thread(self._due))

    def _due(self) -> list[int]:
        with self._uow() as uow:
            return uow.webhooks.due(self._clock.now())

    def prune(self) -> int:
        """Forget events, deliveries and attempts older than the retention period, once
        nothing about them is still pending; returns how many events went."""
        now = self._clock.now()
        with self._uow() as uow:
            count = uow.webhooks.prune(now - self.retention)
            uow.commit()
        self._pruned_at = now
        if count:
            log.info("forgot %d webhook events older than %s", count, self.retention)
        return count

    async def run(self, stop: asyncio.Event, interval: float = 2.0, *, prune: bool = True) -> None:
        """Dispatch and deliver until ``stop``, looking again every ``interval`` seconds,
        and forget what is past the retention period once an hour (unless ``prune`` is
        False: where workers share the work, one of them does it for all)."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.dispatch)
                await self.deliver_due()
                pruned = self._pruned_at
                hour_passed = pruned is None or self._clock.now() - pruned >= timedelta(hours=1)
                if prune and hour_passed:
                    await asyncio.to_thread(self.prune)
            except Exception:
                # The loop outlives any one failure: events stay in the outbox and
                # deliveries stay due, so the next round picks them up again.
                log.exception("webhook delivery round failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)

    def _claim(
        self, now: datetime, lease: datetime, delivery_id: int | None = None
    ) -> list[DueDelivery]:
        with self._uow() as uow:
            due = uow.webhooks.claim_due(now, lease, BATCH, delivery_id)
            uow.commit()
        return due

    async def _try(self, delivery: DueDelivery) -> tuple[DeliveryAttempt, datetime | None]:
        """One signed POST, recorded; the attempt and when the next is due (None: no
        next one, delivered or given up)."""
        event = delivery.event
        body = json.dumps(
            {
                "id": event.id,
                "type": event.type.value,
                "occurred_at": event.occurred_at.isoformat(),
                "data": event.data,
            },
            separators=(",", ":"),
        ).encode()
        status_code: int | None = None
        error: str | None = None
        try:
            secret = self._box.open(delivery.sealed_secret)
            timestamp = int(self._clock.now().timestamp())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Tidings-Webhooks",
                "X-Tidings-Event": event.type.value,
                "X-Tidings-Delivery": str(delivery.id),
                SIGNATURE_HEADER: sign(secret, timestamp, body),
            }
            status_code = await self._sender.post(
                delivery.url, body, headers, self.policy.timeout.total_seconds()
            )
            if not 200 <= status_code < 300:
                error = f"the receiver answered HTTP {status_code}"
        except (WebhookSendError, TidingsError) as failure:
            error = str(failure)
        attempt = DeliveryAttempt(delivery.attempts + 1, self._clock.now(), status_code, error)
        next_at = await asyncio.to_thread(self._record, delivery.id, attempt)
        return attempt, next_at

    def _record(self, delivery_id: int, attempt: DeliveryAttempt) -> datetime | None:
        if attempt.error is None:
            status, next_at = DeliveryStatus.DELIVERED, None
        elif attempt.number >= self.policy.max_attempts:
            status, next_at = DeliveryStatus.FAILED, None
        else:
            delay = self.policy.delay(attempt.number, self._jitter())
            status, next_at = DeliveryStatus.PENDING, attempt.attempted_at + delay
        with self._uow() as uow:
            uow.webhooks.record_attempt(delivery_id, attempt, status, next_at)
            uow.commit()
        return next_at


def _readable(
    uow: UnitOfWork, subscription: WebhookSubscription, events: list[WebhookEvent]
) -> Callable[[WebhookEvent], bool]:
    """Which of ``events`` the subscription's owner may read, decided in one query: the
    activity must be within the owner's level of read_activities, as in the API."""
    if subscription.owner_id is None:
        return lambda event: True
    owner = uow.directory.get_user(subscription.owner_id)
    if owner is None or not owner.is_active:
        return lambda event: False
    scope = caller_as(uow, owner).reach(Privilege.READ_ACTIVITIES)
    if scope.is_organization:
        return lambda event: True
    ids = {i for e in events if isinstance(i := e.data.get("id"), int)}
    visible = uow.activities.ids_within(ids, scope)
    return lambda event: event.data.get("id") in visible or _was_own(scope, event)


def _was_own(scope: Scope, event: WebhookEvent) -> bool:
    """An activity untracked since is no longer stored: it was the owner's when the event
    names them (or one of their queues) as its owner or a party."""
    if not event.data.get("untracked"):
        return False
    mine = {f"user:{scope.user_id}", *(f"queue:{q}" for q in scope.queue_ids)}
    parties = event.data.get("parties")
    records = (
        {p.get("record") for p in parties if isinstance(p, dict)}
        if isinstance(parties, list)
        else set()
    )
    return event.data.get("owner") in mine or f"user:{scope.user_id}" in records


def _require(uow: UnitOfWork, subscription_id: int) -> WebhookSubscription:
    subscription = uow.webhooks.get_subscription(subscription_id)
    if subscription is None:
        raise NotFoundError(f"no webhook subscription with id {subscription_id}")
    return subscription
