"""Change notifications from mail APIs (Graph subscriptions, Gmail's Pub/Sub pushes), handed
to the receiver of their profile kind, which wakes the sync sessions they concern.

The notification endpoint takes no sign-in (the vendor cannot sign in to Tidings): each
receiver checks the vendor's own proof (Graph: the subscription's clientState; Pub/Sub: the
OIDC token in the Authorization header) and ignores anything else. A notification only
says "look again": sync then asks the API itself, so a forged one can cost a request, never
an email.

Where sync runs in the process that receives the request (SQLite; ``tidings serve
--worker``), the receiver is called at once. Where it runs in other processes (``tidings
serve`` without ``--worker`` and ``tidings worker``, on PostgreSQL), the web process answers
what it can alone (Graph's validation handshake, a malformed request, a Gmail push without a
token) and relays the rest (``PushRelay``) to every worker, which hands it to its own
receiver: the checks run there, against the subscriptions and profiles of the sessions they
would wake. A worker that missed pushes (its connection to the relay lost) has every
push-capable session look again once it listens again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Protocol

from tidings.domain.mail_api import PushReply, RelayedPush
from tidings.domain.server_profile import ServerProfileKind
from tidings.services.ports import PushRelay

log = logging.getLogger(__name__)

#: Larger bodies are refused before any parsing (Graph's batches are a few kilobytes).
MAX_BODY_BYTES = 1_000_000
#: The request headers relayed to the workers: all that a receiver reads.
RELAYED_HEADERS = ("authorization",)


class PushReceiver(Protocol):
    """A mail API's notification handling (``GraphNotificationHub``, ``GmailPushHub``).

    Called in a worker thread: it may block (Gmail's fetches Google's certificates).
    ``headers`` are the request's, names in lower case.
    """

    def receive(
        self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
    ) -> PushReply: ...

    def triage(
        self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
    ) -> tuple[PushReply, bool]:
        """The answer where no session waits (sync runs elsewhere), and whether to relay."""
        ...

    def wake_all(self) -> None:
        """Every session of this process looks again."""
        ...


class MailPushService:
    """Routes a notification to the receiver of its kind of profile, here or, through the
    relay, in the sync workers."""

    def __init__(
        self,
        receivers: Mapping[ServerProfileKind, PushReceiver],
        relay: PushRelay | None = None,
    ) -> None:
        self._receivers = dict(receivers)
        self._relay = relay
        #: No sync runs in this process: notifications go to the workers through the relay.
        self._relaying = False

    def relay_to_workers(self) -> None:
        """This process serves the web and syncs nothing (``tidings serve`` without
        ``--worker``): notifications are relayed to the workers, where there is a relay
        (PostgreSQL); on SQLite, one process, they stay here."""
        self._relaying = self._relay is not None

    def receive(
        self, kind: str, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
    ) -> PushReply:
        """The answer to one notification request for profiles of ``kind``."""
        try:
            receiver = self._receivers.get(ServerProfileKind(kind))
        except ValueError:
            receiver = None
        if receiver is None:
            return PushReply(404)
        if len(body) > MAX_BODY_BYTES:
            return PushReply(413)
        if not self._relaying or self._relay is None:
            return receiver.receive(query, body, headers)
        reply, relay = receiver.triage(query, body, headers)
        if relay:
            push = RelayedPush(
                kind,
                tuple(query.items()),
                body,
                tuple((name, headers[name]) for name in RELAYED_HEADERS if name in headers),
            )
            try:
                self._relay.publish(push)
            except Exception:
                # The vendor is answered all the same: sync's polling brings what this
                # notification announced, and an error would only make it retry.
                log.exception("a %s change notification was not relayed to the workers", kind)
        return reply

    async def listen(self, stop: asyncio.Event) -> None:
        """In a sync worker: hand every notification relayed by web processes to this
        process's receivers until ``stop`` (returns at once when nothing is relayed).

        A worker beside a web server (``tidings serve --worker``) listens too: what its own
        server receives wakes its sessions directly and is not relayed, so nothing wakes
        twice, and a web-only process beside it still reaches it."""
        if self._relay is None:
            return
        await self._relay.listen(self._deliver, self._resumed, stop)

    async def _deliver(self, push: RelayedPush) -> None:
        try:
            receiver = self._receivers.get(ServerProfileKind(push.kind))
        except ValueError:
            receiver = None
        if receiver is None:
            return
        # In a thread: Gmail's check may fetch Google's certificates.
        reply = await asyncio.to_thread(
            receiver.receive, dict(push.query), push.body, dict(push.headers)
        )
        log.debug("a relayed %s notification was answered %s", push.kind, reply.status)

    async def _resumed(self) -> None:
        # Notifications published while this worker was not listening are lost: one round
        # of every session that waits for them finds what they announced.
        for receiver in self._receivers.values():
            await asyncio.to_thread(receiver.wake_all)
