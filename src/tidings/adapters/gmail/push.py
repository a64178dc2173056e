"""Gmail push notifications (https://developers.google.com/workspace/gmail/api/guides/push):
``users.watch`` asks Gmail to publish a mailbox's changes to a Cloud Pub/Sub topic; a push
subscription POSTs each as ``{"emailAddress", "historyId"}`` to ``/api/push/gmail``, whose
receiver is ``GmailPushHub.receive``: it wakes that mailbox's folder sessions once the
request's OIDC token proves Pub/Sub sent it for the profile the sessions follow
(``push_auth``). Nothing else is answered but the status: 401 without a token, 403 with one
that is not genuine, 204 once accepted (whether or not a session of that address waits,
so probing learns nothing), 400 for a genuine request that is not a Gmail notification.

A watch covers the whole mailbox (one per user: a second ``watch`` replaces the first), so
it is made without label filters and every folder session of the address wakes and reads
its own label's history. Google asks for a watch to be renewed at least every 7 days and
recommends once a day; the hub remembers until when each address is watched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from tidings.adapters.clock import Now, system_now
from tidings.adapters.gmail.contract import pushed_address
from tidings.adapters.gmail.push_auth import PushCertificates, PushCheck
from tidings.domain.mail_api import PushReply

log = logging.getLogger(__name__)

NO_CHECK = (
    "no folder of a profile with push_audience and push_service_account is synced by this "
    "process (sync runs elsewhere, or the options are missing)"
)

#: Renew a watch once it has less than this left (Google: renew daily, it lasts 7 days).
RENEW_BEFORE_SECONDS = 6 * 24 * 3600.0


@dataclass(eq=False)
class PushWaiter:
    """One folder session's doorbell, rung from any thread, and what a push that rings it
    must prove (None: only ``notify`` rings it)."""

    loop: asyncio.AbstractEventLoop
    check: PushCheck | None = None
    event: asyncio.Event = field(default_factory=asyncio.Event)

    def ring(self) -> None:
        # The session's loop may have ended since (the process stopping): nothing to wake.
        with contextlib.suppress(RuntimeError):
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

    def __init__(
        self,
        certificates: PushCertificates | None = None,
        now: Now = system_now,
    ) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[PushWaiter]] = {}
        self._watched_until: dict[str, float] = {}
        self._certificates = certificates or PushCertificates()
        #: Tidings' clock: when a watch is due for renewal follows it.
        self._now = now

    def receive(
        self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
    ) -> PushReply:
        """A Pub/Sub push request: wakes the sessions of the address it names once its token
        is genuine for their profile. Runs in a worker thread (it may fetch certificates)."""
        token = _bearer(headers)
        if token is None:
            return PushReply(401)
        with self._lock:
            checks = {w.check for ws in self._waiters.values() for w in ws if w.check is not None}
        # The token is checked before the body is read: a stranger learns nothing from it.
        refusals = {c: self._certificates.refusal(token, c) for c in checks}
        genuine = {check for check, refusal in refusals.items() if refusal is None}
        if not genuine:
            # Why, for an admin whose push_audience or push_service_account is not Google's.
            reasons = "; ".join(map(str, refusals.values())) or NO_CHECK
            log.info("a Gmail push was refused: %s", reasons)
            return PushReply(403)
        address = pushed_address(body)
        if address is None:
            return PushReply(400)
        with self._lock:
            waiters = [w for w in self._waiters.get(address.casefold(), ()) if w.check in genuine]
        for waiter in waiters:
            waiter.ring()
        return PushReply(204)

    def triage(
        self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
    ) -> tuple[PushReply, bool]:
        return triage(query, body, headers)

    def wake_all(self) -> None:
        """Every session looks again (pushes may have been missed)."""
        with self._lock:
            waiters = [w for ws in self._waiters.values() for w in ws]
        for waiter in waiters:
            waiter.ring()

    def notify(self, address: str, history_id: str = "") -> int:
        """A Pub/Sub message said ``address`` changed; wakes its sessions, returns how many.

        The history id is not needed: each session reads history from its own cursor.
        """
        with self._lock:
            waiters = list(self._waiters.get(address.casefold(), ()))
        for waiter in waiters:
            waiter.ring()
        return len(waiters)

    def subscribe(self, address: str, check: PushCheck | None = None) -> PushWaiter:
        """A doorbell for a session of ``address``; pushes ring it when ``check`` passes."""
        waiter = PushWaiter(asyncio.get_running_loop(), check)
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
        return until - self._now().timestamp() < RENEW_BEFORE_SECONDS

    def watched(self, address: str, expiration_ms: str) -> None:
        """Gmail's answer to ``watch``: the watch lasts until ``expiration`` (epoch ms)."""
        until = int(expiration_ms) / 1000 if expiration_ms.isdigit() else self._now().timestamp()
        with self._lock:
            self._watched_until[address.casefold()] = until


def triage(
    query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
) -> tuple[PushReply, bool]:
    """The answer of a process that syncs nothing, and whether the sync workers should see
    the request. The token is checked by the workers, against the profiles whose folders
    they sync: this process knows none of them."""
    if _bearer(headers) is None:
        return PushReply(401), False
    return PushReply(204), True


def _bearer(headers: Mapping[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
