"""``GraphFolderSession``: one folder of one Exchange Online mailbox, followed by Graph's
message delta query (learn.microsoft.com/graph/delta-query-messages)::

    changes(None) ──GET .../mailFolders/{id}/messages/delta──▶ page ─┬─ nextLink: more=True,
         ▲            ($select, $filter=receivedDateTime ge,      │   the link is the cursor
         │             Prefer: odata.maxpagesize)                 └─ deltaLink: more=False,
         │                                                            the link is the cursor
    changes(link) ──GET link──▶ page …          410 Gone ──▶ CursorExpiredError (read again)

The cursor is the link itself, which carries every option of the round. It is followed only
when it points at the profile's own Graph URL, so a stored link never sends the token
elsewhere. ``@removed`` entries (messages deleted or moved out of the folder) are handed on
as the page's ``removed``: sync carries them to the activity (``services.departures``).
When the profile names a public ``notification_url`` (Tidings' own
``/api/push/exchange_online`` as the internet reaches it), the session subscribes to the
folder's new messages and a notification wakes it (``supports_push``); otherwise, or when Graph
refuses the subscription, it polls. While subscribed it still looks every five minutes (or
at the profile's polling interval, if longer): Graph may stop notifying without a word.
The ``updated`` notification that Tidings' own category write causes is its echo, not news:
it wakes nothing, or every round that tracked mail would cost a second, empty one.

Lifecycle notifications (``subscriptions.py``) are acted on while waiting::

    reauthorizationRequired ──▶ renew the subscription at once, then a delta round
    subscriptionRemoved     ──▶ subscribe again, then a delta round
    missed                  ──▶ a delta round

Graph may pause notifications before it asks for reauthorization, and sends none between
removing a subscription and its replacement: the round fetches what went unannounced.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from tidings.adapters.clock import Now, system_now
from tidings.adapters.graph.client import GraphClient
from tidings.adapters.graph.contract import (
    DELTA_SELECT,
    format_time,
    parse_categories,
    parse_delta_page,
)
from tidings.adapters.graph.folders import READ_PERMISSION, find_folder_id
from tidings.adapters.graph.notifications import (
    REAUTHORIZATION_REQUIRED,
    SUBSCRIPTION_REMOVED,
    GraphNotificationHub,
)
from tidings.adapters.graph.settings import graph_settings
from tidings.adapters.graph.subscriptions import GraphSubscription
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.error_text import first_line
from tidings.domain.errors import CursorExpiredError, ServerAnsweredError
from tidings.domain.mail_api import ApiMessage, DeltaPage
from tidings.domain.server_profile import ServerProfile

#: Messages per delta page (Graph's default is 10); each page is fetched and committed whole.
PAGE_SIZE = 50
#: $value downloads in flight at once for one folder.
PARALLEL_FETCHES = 4
#: While subscribed, the longest wait without a delta round (unless the profile polls less
#: often): a subscription Graph stopped serving silently costs at most this much delay.
FALLBACK_POLL_SECONDS = 300.0

#: Creates the folder's subscription again; None when Graph refuses it.
Subscribe = Callable[[], Awaitable[GraphSubscription | None]]


class GraphFolderSession:
    """One mailbox folder reached through Microsoft Graph (a ``DeltaSession``)."""

    def __init__(
        self,
        client: GraphClient,
        folder_id: str,
        page_size: int = PAGE_SIZE,
        subscription: GraphSubscription | None = None,
        *,
        subscribe: Subscribe | None = None,
        fallback_seconds: float = FALLBACK_POLL_SECONDS,
    ) -> None:
        self._client = client
        self._folder_id = folder_id
        self._page_size = page_size
        self._subscription = subscription
        self._subscribe = subscribe
        self._fallback_seconds = fallback_seconds
        self.supports_push = subscription is not None
        #: Messages of the last ``fetch`` Graph answered with an error of their own.
        self.withheld: dict[str, str] = {}
        #: receivedDateTime of each id listed, for ``fetch`` to hand on.
        self._received: dict[str, datetime | None] = {}

    async def changes(self, cursor: str | None, received_after: datetime | None) -> DeltaPage:
        url, params = cursor, None
        if url is None:
            url = f"{self._client.user_url}/mailFolders/{self._folder_id}/messages/delta"
            params = {"$select": DELTA_SELECT}
            if received_after is not None:
                params["$filter"] = f"receivedDateTime ge {format_time(received_after)}"
        elif not url.startswith(f"{self._client.settings.api}/"):
            raise CursorExpiredError("the stored delta link is not on this profile's Graph URL")
        body = await self._client.get_json(
            url,
            permission=READ_PERMISSION,
            params=params,
            headers={"Prefer": f"odata.maxpagesize={self._page_size}"},
        )
        page = parse_delta_page(body)
        self._received.update((item.id, item.received_at) for item in page.items)
        next_cursor = page.next_link or page.delta_link
        if next_cursor is None:
            raise CursorExpiredError("Microsoft Graph sent a delta page without a next link")
        return DeltaPage(
            tuple(item.id for item in page.items),
            next_cursor,
            more=page.next_link is not None,
            categories=tuple((item.id, item.categories) for item in page.items),
            removed=page.removed,
        )

    async def add_category(self, ids: Sequence[str], category: str) -> None:
        """Add ``category`` to these messages, keeping their others: Graph replaces the whole
        ``categories`` collection on PATCH (learn.microsoft.com/graph/api/message-update),
        so each message's are read first. A message gone since is passed over."""
        for message_id in ids:
            url = f"{self._client.user_url}/messages/{message_id}"
            response = await self._client.request(
                "GET",
                url,
                permission=READ_PERMISSION,
                params={"$select": "categories"},
                missing_ok=True,
            )
            if response is None:
                continue
            body = response.json()
            current = parse_categories(body.get("categories") if isinstance(body, dict) else None)
            if category.lower() in (c.lower() for c in current):
                continue
            notices = self._subscription.notices if self._subscription is not None else None
            if notices is not None:
                notices.expect_echo([message_id])
            try:
                await self._client.send_json(
                    "PATCH", url, {"categories": [*current, category]}, permission=READ_PERMISSION
                )
            except BaseException:
                if notices is not None:
                    notices.withdraw_echo([message_id])
                raise

    async def fetch(self, ids: Sequence[str]) -> list[ApiMessage]:
        gate = asyncio.Semaphore(PARALLEL_FETCHES)

        async def one(message_id: str) -> ApiMessage | None:
            async with gate:
                try:
                    response = await self._client.request(
                        "GET",
                        f"{self._client.user_url}/messages/{message_id}/$value",
                        permission=READ_PERMISSION,
                        missing_ok=True,
                    )
                except ServerAnsweredError as error:  # this message's failure alone
                    self.withheld[message_id] = first_line(str(error))
                    return None
            if response is None:  # deleted since it was listed
                return None
            return ApiMessage(message_id, self._received.get(message_id), response.content)

        self.withheld = {}
        fetched = await asyncio.gather(*(one(message_id) for message_id in ids))
        return [message for message in fetched if message is not None]

    async def wait_for_change(self, timeout: float) -> bool:
        if self._subscription is None:  # no change notifications: wait out the polling interval
            await asyncio.sleep(timeout)
            return False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + min(timeout, self._fallback_seconds)
        while True:
            subscription = self._subscription
            await subscription.renew_if_due(self._client)
            left = min(deadline - loop.time(), subscription.seconds_until_renewal())
            try:
                await asyncio.wait_for(subscription.notices.arrived.wait(), max(left, 0.0))
            except TimeoutError:
                if loop.time() >= deadline:
                    return False
                continue  # the subscription is due for renewal
            lifecycle = subscription.notices.take()
            if SUBSCRIPTION_REMOVED in lifecycle:
                await self._subscribe_again(subscription)
            elif REAUTHORIZATION_REQUIRED in lifecycle:
                await subscription.renew(self._client)
            # New mail; or notifications missed, or paused until now: a delta round either way.
            return True

    async def _subscribe_again(self, removed: GraphSubscription) -> None:
        """Replace a subscription Graph removed; without one, the folder polls from now on."""
        removed.forget()
        self._subscription = None
        self.supports_push = False
        if self._subscribe is not None:
            self._subscription = await self._subscribe()
            self.supports_push = self._subscription is not None

    async def close(self) -> None:
        try:
            if self._subscription is not None:
                await self._subscription.delete(self._client)
        finally:
            await self._client.aclose()


class GraphDeltaOpener:
    """Opens a mailbox folder through Graph (a ``DeltaOpener``), sharing one token cache."""

    def __init__(
        self,
        tokens: GraphTokens,
        hub: GraphNotificationHub | None = None,
        page_size: int = PAGE_SIZE,
        now: Now = system_now,
    ) -> None:
        self._tokens = tokens
        self._hub = hub
        self._page_size = page_size
        self._now = now

    async def __call__(
        self, profile: ServerProfile, credential: Credential, address: str, folder: str
    ) -> GraphFolderSession:
        client = GraphClient(self._tokens, graph_settings(profile, credential), profile, address)
        try:
            folder_id = await find_folder_id(client, folder)
            url = profile.options.get("notification_url", "").strip()
            subscribe: Subscribe | None = None
            subscription = None
            if url and self._hub is not None:
                subscribe = functools.partial(
                    GraphSubscription.create, client, self._hub, folder_id, url, self._now
                )
                subscription = await subscribe()
        except BaseException:
            await client.aclose()
            raise
        return GraphFolderSession(
            client,
            folder_id,
            self._page_size,
            subscription,
            subscribe=subscribe,
            fallback_seconds=fallback_poll_seconds(profile),
        )


def fallback_poll_seconds(profile: ServerProfile) -> float:
    """The longest wait for a notification before a delta round all the same."""
    return max(FALLBACK_POLL_SECONDS, 60.0 * profile.min_polling_interval_minutes)
