"""Gmail push notifications (https://developers.google.com/workspace/gmail/api/guides/push):
``users.watch`` asks Gmail to publish a mailbox's changes to a Cloud Pub/Sub topic; a push
subscription delivers each as ``{"emailAddress", "historyId"}`` to whoever receives it,
which hands it to ``GmailPushHub.notify`` to wake that mailbox's folder sessions.

A watch covers the whole mailbox (one per user: a second ``watch`` replaces the first), so
it is made without label filters and every folder session of the address wakes and reads
its own label's history. Google asks for a watch to be renewed at least every 7 days and
recommends once a day; the hub remembers until when each address is watched.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

#: Renew a watch once it has less than this left (Google: renew daily, it lasts 7 days).
RENEW_BEFORE_SECONDS = 6 * 24 * 3600.0


@dataclass(eq=False)
class PushWaiter:
    """One folder session's doorbell, rung from any thread."""

    loop: asyncio.AbstractEventLoop
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def ring(self) -> None:
        self.loop.call_soon_threadsafe(self.event.set)

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            return False
        self.event.clear()
        return True


class GmailPushHub:
    """Who waits for news of which mailbox, and until when each mailbox is watched."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[PushWaiter]] = {}
        self._watched_until: dict[str, float] = {}

    def notify(self, address: str, history_id: str = "") -> int:
        """A Pub/Sub message said ``address`` changed; wakes its sessions, returns how many.

        The history id is not needed: each session reads history from its own cursor.
        """
        with self._lock:
            waiters = list(self._waiters.get(address.casefold(), ()))
        for waiter in waiters:
            waiter.ring()
        return len(waiters)

    def subscribe(self, address: str) -> PushWaiter:
        waiter = PushWaiter(asyncio.get_running_loop())
        with self._lock:
            self._waiters.setdefault(address.casefold(), set()).add(waiter)
        return waiter

    def unsubscribe(self, address: str, waiter: PushWaiter) -> None:
        with self._lock:
            waiters = self._waiters.get(address.casefold(), set())
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(address.casefold(), None)

    def needs_watch(self, address: str) -> bool:
        with self._lock:
            until = self._watched_until.get(address.casefold(), 0.0)
        return until - time.time() < RENEW_BEFORE_SECONDS

    def watched(self, address: str, expiration_ms: str) -> None:
        """Gmail's answer to ``watch``: the watch lasts until ``expiration`` (epoch ms)."""
        until = int(expiration_ms) / 1000 if expiration_ms.isdigit() else time.time()
        with self._lock:
            self._watched_until[address.casefold()] = until
