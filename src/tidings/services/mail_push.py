"""Change notifications from mail APIs (Graph subscriptions, Gmail's Pub/Sub pushes), handed
to the receiver of their profile kind, which wakes the sync sessions they concern.

The notification endpoint takes no sign-in (the vendor cannot sign in to Tidings): each
receiver checks the vendor's own proof (Graph: the subscription's clientState; Pub/Sub: the
OIDC token in the Authorization header) and ignores anything else. A notification only
says "look again": sync then asks the API itself, so a forged one can cost a request, never
an email.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from tidings.domain.mail_api import PushReply
from tidings.domain.server_profile import ServerProfileKind

#: Larger bodies are refused before any parsing (Graph's batches are a few kilobytes).
MAX_BODY_BYTES = 1_000_000


class PushReceiver(Protocol):
    """A mail API's notification handling (``GraphNotificationHub``, ``GmailPushHub``).

    Called in a worker thread: it may block (Gmail's fetches Google's certificates).
    ``headers`` are the request's, names in lower case.
    """

    def receive(
        self, query: Mapping[str, str], body: bytes, headers: Mapping[str, str]
    ) -> PushReply: ...


class MailPushService:
    """Routes a notification to the receiver of its kind of profile."""

    def __init__(self, receivers: Mapping[ServerProfileKind, PushReceiver]) -> None:
        self._receivers = dict(receivers)

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
        return receiver.receive(query, body, headers)
