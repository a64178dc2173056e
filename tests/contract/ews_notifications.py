"""Streaming notifications of the EWS contract fake: Subscribe with a
StreamingSubscriptionRequest, then GetStreamingEvents, which holds the HTTP response open for
ConnectionTimeout minutes and writes one SOAP envelope per batch of events, then a last one
with ConnectionStatus Closed.

Subscribe (streaming): https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/subscribe-operation
StreamingSubscriptionRequest: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/streamingsubscriptionrequest
GetStreamingEvents: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getstreamingevents-operation
Streaming notifications in EWS: https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/notification-subscriptions-mailbox-events-and-ews-in-exchange

Events wait in their subscription while no connection takes them, as Exchange keeps them for
a subscription between connections. ``minute_seconds`` is the length of the fake's minute,
so that tests need not wait out real ones.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from xml.sax.saxutils import quoteattr

from tests.contract import ews_soap as soap

#: The events a new message raises in its folder, in Exchange's order.
NEW_MESSAGE_EVENTS = ("NewMailEvent", "CreatedEvent")


@dataclass
class _Subscription:
    id: str
    address: str
    folder_ids: frozenset[str]
    event_types: frozenset[str]
    pending: list[str] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class Subscriptions:
    """The fake's streaming subscriptions; every method but ``stream`` runs under ``lock``."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self._subscriptions: dict[str, _Subscription] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.minute_seconds = 60.0

    def subscribe(self, address: str, folder_ids: set[str], event_types: set[str]) -> str:
        """A new streaming subscription (called on the server's event loop)."""
        self._loop = asyncio.get_running_loop()
        subscription = _Subscription(
            uuid.uuid4().hex, address, frozenset(folder_ids), frozenset(event_types)
        )
        self._subscriptions[subscription.id] = subscription
        return subscription.id

    def unknown(self, address: str, ids: list[str]) -> list[str]:
        """Which of ``ids`` are not subscriptions of this mailbox."""
        return [
            i
            for i in ids
            if i not in self._subscriptions or self._subscriptions[i].address != address
        ]

    def item_created(self, address: str, folder_id: str, item_id: str) -> None:
        """Queue the events of a new item for every subscription to its folder."""
        self._queue(address, folder_id, item_id, NEW_MESSAGE_EVENTS)

    def item_modified(self, address: str, folder_id: str, item_id: str) -> None:
        """Queue a ModifiedEvent (an item's properties changed) for its folder's subscribers."""
        self._queue(address, folder_id, item_id, ("ModifiedEvent",))

    def item_deleted(self, address: str, folder_id: str, item_id: str) -> None:
        """Queue a DeletedEvent for the subscribers of the folder the item left."""
        self._queue(address, folder_id, item_id, ("DeletedEvent",))

    def item_moved(
        self, address: str, old_folder_id: str, folder_id: str, old_id: str, item_id: str
    ) -> None:
        """Queue a MovedEvent for the subscribers of either folder (MovedEvent: ItemId and
        ParentFolderId where it is now, OldItemId and OldParentFolderId where it was)."""
        old = (
            f'<t:OldItemId Id={quoteattr(old_id)} ChangeKey="CQAAAA=="/>'
            f'<t:OldParentFolderId Id={quoteattr(old_folder_id)} ChangeKey="AQAAAA=="/>'
        )
        for folder in dict.fromkeys((old_folder_id, folder_id)):
            self._queue(address, folder, item_id, ("MovedEvent",), parent=folder_id, extra=old)

    def _queue(
        self,
        address: str,
        folder_id: str,
        item_id: str,
        kinds: tuple[str, ...],
        *,
        parent: str | None = None,
        extra: str = "",
    ) -> None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for subscription in self._subscriptions.values():
            if subscription.address != address or folder_id not in subscription.folder_ids:
                continue
            for kind in kinds:
                if kind in subscription.event_types:
                    subscription.pending.append(
                        f"<t:{kind}><t:TimeStamp>{stamp}</t:TimeStamp>"
                        f'<t:ItemId Id={quoteattr(item_id)} ChangeKey="CQAAAA=="/>'
                        f"<t:ParentFolderId Id={quoteattr(parent or folder_id)} "
                        f'ChangeKey="AQAAAA=="/>{extra}'
                        f"</t:{kind}>"
                    )
            if self._loop is not None:
                self._loop.call_soon_threadsafe(subscription.wake.set)

    def forget(self) -> None:
        """Every subscription expires (as after a server restart); open connections close."""
        for subscription in self._subscriptions.values():
            if self._loop is not None:
                self._loop.call_soon_threadsafe(subscription.wake.set)
        self._subscriptions.clear()

    async def stream(self, ids: list[str], minutes: int) -> AsyncIterator[str]:
        """The envelopes of one GetStreamingEvents connection."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + minutes * self.minute_seconds
        yield _message("<m:ConnectionStatus>OK</m:ConnectionStatus>")
        while True:
            with self._lock:
                subscriptions = [self._subscriptions[i] for i in ids if i in self._subscriptions]
                batches = []
                for subscription in subscriptions:
                    subscription.wake.clear()
                    if subscription.pending:
                        batches.append((subscription.id, subscription.pending))
                        subscription.pending = []
            if batches:
                yield _message(_notifications(batches))
            remaining = deadline - loop.time()
            if remaining <= 0 or not subscriptions:
                break
            waiters = [asyncio.ensure_future(s.wake.wait()) for s in subscriptions]
            _, waiting = await asyncio.wait(
                waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in waiting:
                waiter.cancel()
        yield _message("<m:ConnectionStatus>Closed</m:ConnectionStatus>")


def _notifications(batches: list[tuple[str, list[str]]]) -> str:
    return (
        "<m:Notifications>"
        + "".join(
            f"<m:Notification><t:SubscriptionId>{sid}</t:SubscriptionId>{''.join(events)}"
            "</m:Notification>"
            for sid, events in batches
        )
        + "</m:Notifications>"
    )


def _message(content: str) -> str:
    return soap.response("GetStreamingEvents", [soap.success("GetStreamingEvents", content)])
