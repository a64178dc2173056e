"""A Graph subscription to the messages of one folder: created when the session opens, renewed
before it lapses, deleted when the session closes
(learn.microsoft.com/graph/api/subscription-post-subscriptions; messages allow at most 10,080
minutes, so Tidings asks for two days and renews with half a day left).

Each subscription names Tidings' notification URL as its ``lifecycleNotificationUrl`` too, so
Graph tells Tidings when it must be reauthorized, when Graph removed it and when
notifications were missed (learn.microsoft.com/graph/change-notifications-lifecycle-events;
the property can only be given at creation). A reauthorization is answered with a renewal,
which also reauthorizes (learn.microsoft.com/graph/api/subscription-update): one request, and
never the reauthorize-then-update pair the page warns against within ten minutes.

The clientState is a fresh random secret per subscription, kept only in memory: after a
restart, a new subscription gets a new one. Expiry and renewal follow the clock Tidings is
given (``now``), so that a test can move time past a renewal.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from tidings.adapters.clock import Now, system_now
from tidings.adapters.graph.client import GraphClient
from tidings.adapters.graph.contract import format_time, parse_time
from tidings.adapters.graph.folders import READ_PERMISSION
from tidings.adapters.graph.notifications import GraphNotificationHub, Notices
from tidings.domain.errors import MailServerError, ThrottledError

log = logging.getLogger(__name__)

LIFETIME = timedelta(days=2)
RENEW_BEFORE = timedelta(hours=12)


class GraphSubscription:
    """Graph's promise to notify ``notification_url`` of new messages in one folder."""

    def __init__(
        self,
        hub: GraphNotificationHub,
        subscription_id: str,
        client_state: str,
        expires: datetime,
        now: Now = system_now,
    ) -> None:
        self.id = subscription_id
        self.expires = expires
        self._hub = hub
        self._now = now
        self.notices: Notices = hub.register(subscription_id, client_state)

    @classmethod
    async def create(
        cls,
        client: GraphClient,
        hub: GraphNotificationHub,
        folder_id: str,
        notification_url: str,
        now: Now = system_now,
    ) -> GraphSubscription | None:
        """The subscription, or None when Graph refused it (the session then polls)."""
        client_state = secrets.token_urlsafe(32)
        body = {
            # Updated too: a person setting the "Tracked" category changes a message.
            "changeType": "created,updated",
            "notificationUrl": notification_url,
            # The same URL: the receiver tells lifecycle notifications by their lifecycleEvent.
            "lifecycleNotificationUrl": notification_url,
            "resource": f"users/{client.address}/mailFolders('{folder_id}')/messages",
            "expirationDateTime": format_time(now() + LIFETIME),
            "clientState": client_state,
        }
        try:
            created = await client.send_json(
                "POST", f"{client.settings.api}/subscriptions", body, permission=READ_PERMISSION
            )
        except ThrottledError:
            raise
        except MailServerError as error:
            log.warning("%s: no change notifications, polling instead: %s", client.address, error)
            return None
        expires = parse_time(created.get("expirationDateTime")) or now() + LIFETIME
        return cls(hub, str(created["id"]), client_state, expires, now)

    def seconds_until_renewal(self) -> float:
        return max((self.expires - RENEW_BEFORE - self._now()).total_seconds(), 0.0)

    async def renew_if_due(self, client: GraphClient) -> None:
        if self.seconds_until_renewal() <= 0:
            await self.renew(client)

    async def renew(self, client: GraphClient) -> None:
        """Extend the subscription by its whole lifetime, reauthorizing it as well."""
        expires = self._now() + LIFETIME
        await client.send_json(
            "PATCH",
            f"{client.settings.api}/subscriptions/{self.id}",
            {"expirationDateTime": format_time(expires)},
            permission=READ_PERMISSION,
        )
        self.expires = expires

    def forget(self) -> None:
        """Stop listening for a subscription Graph has removed by itself."""
        self._hub.unregister(self.id)

    async def delete(self, client: GraphClient) -> None:
        self._hub.unregister(self.id)
        try:
            await client.request(
                "DELETE",
                f"{client.settings.api}/subscriptions/{self.id}",
                permission=READ_PERMISSION,
                missing_ok=True,
            )
        except MailServerError as error:  # it lapses by itself within two days
            log.info("%s: subscription %s not deleted: %s", client.address, self.id, error)
