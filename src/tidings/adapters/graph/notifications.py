"""``GraphNotificationHub``: Graph change and lifecycle notifications in, sync sessions woken.

Graph first checks the notification URL by POSTing ``?validationToken=…`` and wants the token
back as text/plain within 10 seconds; afterwards each notification carries the
``clientState`` secret the subscription was created with, compared in constant time
(learn.microsoft.com/graph/change-notifications-delivery-webhooks). A notification for an
unknown subscription, or with the wrong clientState, is dropped without a word: Graph is
answered 202 either way, so nothing can be learnt by probing.

Lifecycle notifications (learn.microsoft.com/graph/change-notifications-lifecycle-events)
arrive at the same URL: Tidings gives it as both ``notificationUrl`` and
``lifecycleNotificationUrl``, and tells them apart by their ``lifecycleEvent`` property
(``reauthorizationRequired``, ``subscriptionRemoved``, ``missed``). They are checked against
the clientState like the others and handed to the session, which acts on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tidings.domain.mail_api import PushReply

#: Graph's validation tokens are a few hundred characters; anything longer is not one.
MAX_TOKEN_LENGTH = 2048

REAUTHORIZATION_REQUIRED = "reauthorizationRequired"
SUBSCRIPTION_REMOVED = "subscriptionRemoved"
MISSED = "missed"
LIFECYCLE_EVENTS = frozenset({REAUTHORIZATION_REQUIRED, SUBSCRIPTION_REMOVED, MISSED})
UPDATED = "updated"
#: Echoes awaited at most: an update whose notification never came is forgotten, oldest first.
MAX_ECHOES = 10_000


class Notices:
    """What the notifications of one subscription asked for since the session last looked.

    Touched only on the session's event loop: the hub hands each notice over with
    ``call_soon_threadsafe``.
    """

    def __init__(self) -> None:
        self.arrived = asyncio.Event()
        self._lifecycle: set[str] = set()
        self._echoes: OrderedDict[str, None] = OrderedDict()

    def expect_echo(self, message_ids: Iterable[str]) -> None:
        """Tidings is about to update these messages itself (writing its category): the
        ``updated`` notification each update causes is no news, and must not cost a round."""
        for message_id in message_ids:
            self._echoes[message_id] = None
            self._echoes.move_to_end(message_id)
        while len(self._echoes) > MAX_ECHOES:
            self._echoes.popitem(last=False)

    def withdraw_echo(self, message_ids: Iterable[str]) -> None:
        """The update did not happen: a notification about these messages is news again."""
        for message_id in message_ids:
            self._echoes.pop(message_id, None)

    def note(
        self,
        lifecycle_event: str | None,
        change_type: str | None = None,
        message_id: str | None = None,
    ) -> None:
        if lifecycle_event is not None:
            self._lifecycle.add(lifecycle_event)
        elif change_type == UPDATED and message_id is not None and message_id in self._echoes:
            # One echo per update: a person's later change of the same message is news.
            del self._echoes[message_id]
            return
        self.arrived.set()

    def take(self) -> frozenset[str]:
        """The lifecycle events noted so far (none for plain change notifications), cleared."""
        # Cleared before the session acts: a notice arriving meanwhile wakes it again.
        self.arrived.clear()
        taken = frozenset(self._lifecycle)
        self._lifecycle.clear()
        return taken


@dataclass(frozen=True)
class _Waiter:
    client_state: str
    loop: asyncio.AbstractEventLoop
    notices: Notices


class GraphNotificationHub:
    """Which subscription wakes which session; fed by the API's notification endpoint."""

    def __init__(self) -> None:
        self._waiters: dict[str, _Waiter] = {}
        self._lock = threading.Lock()

    def register(self, subscription_id: str, client_state: str) -> Notices:
        """The notices of the subscription, noted on the calling event loop."""
        waiter = _Waiter(client_state, asyncio.get_running_loop(), Notices())
        with self._lock:
            self._waiters[subscription_id] = waiter
        return waiter.notices

    def unregister(self, subscription_id: str) -> None:
        with self._lock:
            self._waiters.pop(subscription_id, None)

    def receive(
        self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
    ) -> PushReply:
        reply, notifications = _read(query, body)
        for notification in notifications:
            if isinstance(notification, dict):
                self._wake(notification)
        return reply

    def triage(
        self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
    ) -> tuple[PushReply, bool]:
        return triage(query, body, headers)

    def wake_all(self) -> None:
        """Every subscribed session looks again (notifications may have been missed)."""
        with self._lock:
            waiters = list(self._waiters.values())
        for waiter in waiters:
            with contextlib.suppress(RuntimeError):
                waiter.loop.call_soon_threadsafe(waiter.notices.note, None)

    def _wake(self, notification: dict[str, object]) -> None:
        with self._lock:
            waiter = self._waiters.get(str(notification.get("subscriptionId", "")))
        if waiter is None:
            return
        given = str(notification.get("clientState", "")).encode()
        if not hmac.compare_digest(given, waiter.client_state.encode()):
            return
        event = notification.get("lifecycleEvent")
        # An event Graph may add later is no instruction, but still worth a look.
        lifecycle = event if isinstance(event, str) and event in LIFECYCLE_EVENTS else None
        change_type = notification.get("changeType")
        data = notification.get("resourceData")
        message_id = data.get("id") if isinstance(data, dict) else None
        # The session's loop may have ended since (the process stopping): nothing to wake.
        with contextlib.suppress(RuntimeError):
            waiter.loop.call_soon_threadsafe(
                waiter.notices.note,
                lifecycle,
                change_type if isinstance(change_type, str) else None,
                message_id if isinstance(message_id, str) else None,
            )


def triage(
    query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
) -> tuple[PushReply, bool]:
    """The answer of a process that syncs nothing, and whether the sync workers should see
    the request: the handshake is an echo, and the clientState is checked where the
    subscriptions are known."""
    reply, notifications = _read(query, body)
    return reply, bool(notifications)


def _read(query: Mapping[str, str], body: bytes) -> tuple[PushReply, list[object]]:
    """The answer to a request, and the notifications it carries (none for the handshake)."""
    token = query.get("validationToken")
    if token is not None:
        # Echoed as plain text, as Graph's handshake asks; nothing longer than a token.
        return (PushReply(200, token) if len(token) <= MAX_TOKEN_LENGTH else PushReply(400)), []
    try:
        notifications = json.loads(body)["value"]
    except (ValueError, KeyError, TypeError):
        return PushReply(400), []
    if not isinstance(notifications, list):
        return PushReply(400), []
    return PushReply(202), notifications
