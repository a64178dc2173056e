"""``GraphFolderSession``: one folder of one Exchange Online mailbox, followed by Graph's
message delta query (learn.microsoft.com/graph/delta-query-messages)::

    changes(None) ──GET .../mailFolders/{id}/messages/delta──▶ page ─┬─ nextLink: more=True,
         ▲            ($select, $filter=receivedDateTime ge,      │   the link is the cursor
         │             Prefer: odata.maxpagesize)                 └─ deltaLink: more=False,
         │                                                            the link is the cursor
    changes(link) ──GET link──▶ page …          410 Gone ──▶ CursorExpiredError (read again)

The cursor is the link itself, which carries every option of the round. It is followed only
when it points at the profile's own Graph URL, so a stored link never sends the token
elsewhere. ``@removed`` entries (messages that left the folder) are ignored: a tracked email
stays tracked. When the profile names a public ``notification_url`` (Tidings' own
``/api/push/exchange_online`` as the internet reaches it), the session subscribes to the
folder's new messages and a notification wakes it (``supports_push``); otherwise, or when Graph
refuses the subscription, it polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime

from tidings.adapters.graph.client import GraphClient
from tidings.adapters.graph.contract import DELTA_SELECT, format_time, parse_delta_page
from tidings.adapters.graph.folders import READ_PERMISSION, find_folder_id
from tidings.adapters.graph.notifications import GraphNotificationHub
from tidings.adapters.graph.settings import graph_settings
from tidings.adapters.graph.subscriptions import GraphSubscription
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.errors import CursorExpiredError
from tidings.domain.mail_api import ApiMessage, DeltaPage
from tidings.domain.server_profile import ServerProfile

#: Messages per delta page (Graph's default is 10); each page is fetched and committed whole.
PAGE_SIZE = 50
#: $value downloads in flight at once for one folder.
PARALLEL_FETCHES = 4


class GraphFolderSession:
    """One mailbox folder reached through Microsoft Graph (a ``DeltaSession``)."""

    def __init__(
        self,
        client: GraphClient,
        folder_id: str,
        page_size: int = PAGE_SIZE,
        subscription: GraphSubscription | None = None,
    ) -> None:
        self._client = client
        self._folder_id = folder_id
        self._page_size = page_size
        self._subscription = subscription
        self.supports_push = subscription is not None
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
            tuple(item.id for item in page.items), next_cursor, more=page.next_link is not None
        )

    async def fetch(self, ids: Sequence[str]) -> list[ApiMessage]:
        gate = asyncio.Semaphore(PARALLEL_FETCHES)

        async def one(message_id: str) -> ApiMessage | None:
            async with gate:
                response = await self._client.request(
                    "GET",
                    f"{self._client.user_url}/messages/{message_id}/$value",
                    permission=READ_PERMISSION,
                    missing_ok=True,
                )
            if response is None:  # deleted since it was listed
                return None
            return ApiMessage(message_id, self._received.get(message_id), response.content)

        fetched = await asyncio.gather(*(one(message_id) for message_id in ids))
        return [message for message in fetched if message is not None]

    async def wait_for_change(self, timeout: float) -> bool:
        subscription = self._subscription
        if subscription is None:  # no change notifications: wait out the polling interval
            await asyncio.sleep(timeout)
            return False
        await subscription.renew_if_due(self._client)
        try:
            await asyncio.wait_for(
                subscription.event.wait(), min(timeout, subscription.seconds_until_renewal())
            )
        except TimeoutError:
            return False
        # Cleared before the round it causes: a notification during that round wakes again.
        subscription.event.clear()
        return True

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
    ) -> None:
        self._tokens = tokens
        self._hub = hub
        self._page_size = page_size

    async def __call__(
        self, profile: ServerProfile, credential: Credential, address: str, folder: str
    ) -> GraphFolderSession:
        client = GraphClient(self._tokens, graph_settings(profile, credential), profile, address)
        try:
            folder_id = await find_folder_id(client, folder)
            url = profile.options.get("notification_url", "").strip()
            subscription = None
            if url and self._hub is not None:
                subscription = await GraphSubscription.create(client, self._hub, folder_id, url)
        except BaseException:
            await client.aclose()
            raise
        return GraphFolderSession(client, folder_id, self._page_size, subscription)
