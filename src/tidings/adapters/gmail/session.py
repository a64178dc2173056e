"""One folder of one mailbox through the Gmail API, as sync's ``DeltaSession``.

Folders are labels: "INBOX" is the INBOX label, any other folder the user label of that
name ("Projects/Contoso" is how Gmail names a nested label). Following Google's
synchronization guide (https://developers.google.com/workspace/gmail/api/guides/sync)::

    no cursor ──getProfile: historyId H──▶ messages.list(label, after:) page by page
                                            │ cursor "list:H:after:pageToken" while pages remain
                                            ▼
    cursor H ──history.list(startHistoryId=H, labelId, messageAdded+messageDeleted+
       ▲                    labelAdded+labelRemoved) ──▶ new ids, ids gone from the label
       │                                                 (removed), each message's labels
       ▲                                    │ cursor = last record's id while pages remain,
       └────────────────────────────────────┘ then the mailbox's historyId
    404 (H too old) ──▶ CursorExpiredError: sync lists the folder again

H is read before listing, so what arrives during the listing shows up in history too; the
raw store's origins keep it from being fetched twice. Every history record carries the
message's labels after the change: the page names them (``categories``), which is where a
person's "Tracked" label is read. A listing names no labels; the message fetched after it
does (``labelIds``), so a label set before the first sync is read there. ``add_category``
writes Tidings' own with messages.modify, creating the user label first if the mailbox has
none by that name.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from tidings.adapters.gmail.auth import GoogleTokens
from tidings.adapters.gmail.client import BadRequestError, GmailClient, NotFoundError
from tidings.adapters.gmail.contract import (
    PAGE_SIZE,
    GmailCursor,
    added_to_label,
    label_query,
    labels_by_message,
    listed_ids,
    removed_from_label,
    to_api_message,
)
from tidings.adapters.gmail.push import GmailPushHub, PushWaiter
from tidings.adapters.gmail.push_auth import PushCheck
from tidings.domain.credentials import Credential
from tidings.domain.error_text import first_line
from tidings.domain.errors import (
    CursorExpiredError,
    FolderMissingError,
    ServerAnsweredError,
)
from tidings.domain.mail_api import ApiMessage, DeltaPage
from tidings.domain.server_profile import ServerProfile

INBOX = "INBOX"
#: Messages fetched at once: Gmail limits concurrent requests per user.
PARALLEL_FETCHES = 4
#: With push, the longest wait between rounds when no notification comes.
FALLBACK_POLL_SECONDS = 300.0


@dataclass
class _Push:
    """A session's share of push: the hub, its doorbell, the topic, and how long to wait
    at most before a round anyway (should a notification be lost)."""

    hub: GmailPushHub
    waiter: PushWaiter
    topic: str
    fallback_seconds: float


class GmailFolderSession:
    """A label of one mailbox, read through history; woken by push when the profile names a
    Pub/Sub topic (``options["pubsub_topic"]``), polled otherwise."""

    def __init__(self, client: GmailClient, label_id: str, push: _Push | None = None) -> None:
        self._client = client
        self._label_id = label_id
        self._push = push
        self.supports_push = push is not None
        #: Messages of the last ``fetch`` Gmail answered with an error of their own.
        self.withheld: dict[str, str] = {}
        #: Label names by id, read when a history page names an id not seen yet.
        self._label_names: dict[str, str] = {}

    @classmethod
    async def open(
        cls,
        profile: ServerProfile,
        credential: Credential,
        address: str,
        folder: str,
        *,
        tokens: GoogleTokens,
        hub: GmailPushHub | None = None,
    ) -> GmailFolderSession:
        client = GmailClient(profile, credential, address, tokens)
        session: GmailFolderSession | None = None
        try:
            label_id = INBOX if folder.upper() == INBOX else await _user_label(client, folder)
            session = cls(client, label_id, _push_of(profile, address, hub))
            await session._watch()
        except BaseException:
            if session is not None:
                session.unsubscribe()
            await client.close()
            raise
        return session

    async def _watch(self) -> None:
        """Ask Gmail to publish the mailbox's changes, unless a watch still holds."""
        push = self._push
        if push is None or not push.hub.needs_watch(self._client.address):
            return
        answer = await self._client.request("POST", "watch", json={"topicName": push.topic})
        push.hub.watched(self._client.address, str(answer.get("expiration", "")))

    def unsubscribe(self) -> None:
        if self._push is not None:
            self._push.hub.unsubscribe(self._client.address, self._push.waiter)

    async def changes(self, cursor: str | None, received_after: datetime | None) -> DeltaPage:
        if cursor is None:
            profile = await self._client.get("profile")
            start = GmailCursor(str(profile["historyId"]), "", label_query(received_after))
            return await self._listed(start)
        parsed = GmailCursor.parse(cursor)
        if parsed.page_token is not None:
            return await self._listed(parsed)
        return await self._history(parsed.history_id)

    async def _listed(self, cursor: GmailCursor) -> DeltaPage:
        params: dict[str, Any] = {"labelIds": self._label_id, "maxResults": PAGE_SIZE}
        if cursor.after is not None:
            params["q"] = f"after:{cursor.after}"
        if cursor.page_token:
            params["pageToken"] = cursor.page_token
        try:
            body = await self._client.get("messages", params)
        except BadRequestError as error:
            if not cursor.page_token:
                raise
            # A page token kept across a long outage may no longer be valid: list again.
            raise CursorExpiredError(
                f"Gmail no longer takes the listing's page token ({error})"
            ) from error
        following = body.get("nextPageToken")
        if following:
            next_cursor = GmailCursor(cursor.history_id, str(following), cursor.after)
            return DeltaPage(tuple(listed_ids(body)), next_cursor.format(), more=True)
        return DeltaPage(tuple(listed_ids(body)), cursor.history_id)

    async def _history(self, start: str) -> DeltaPage:
        params = {
            "startHistoryId": start,
            "labelId": self._label_id,
            "historyTypes": ["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"],
            "maxResults": PAGE_SIZE,
        }
        try:
            body = await self._client.get("history", params)
        except NotFoundError as error:
            raise CursorExpiredError(
                f"Gmail no longer knows history id {start} ({error})"
            ) from error
        records: list[dict[str, Any]] = body.get("history", [])
        added = tuple(added_to_label(records, self._label_id))
        removed = tuple(removed_from_label(records, self._label_id))
        categories = await self._names(labels_by_message(records, self._label_id))
        if body.get("nextPageToken") and records:
            # History ids order the records, so the last one read is where the next page starts.
            return DeltaPage(
                added, str(records[-1]["id"]), more=True, categories=categories, removed=removed
            )
        cursor = str(body.get("historyId") or start)
        return DeltaPage(added, cursor, categories=categories, removed=removed)

    async def _names(self, labels: dict[str, list[str]]) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """Each message's labels by name (label ids are the mailbox's own)."""
        if any(x not in self._label_names for ids in labels.values() for x in ids):
            body = await self._client.get("labels")
            self._label_names = {
                str(label["id"]): str(label.get("name", label["id"]))
                for label in body.get("labels", [])
            }
        return tuple(
            (message_id, tuple(self._label_names.get(x, x) for x in ids))
            for message_id, ids in labels.items()
        )

    async def add_category(self, ids: Sequence[str], category: str) -> None:
        """Add the user label ``category`` to these messages (created if missing); a message
        deleted since is passed over. Adding a label a message has changes nothing."""
        label_id = await self._label_for(category)
        gate = asyncio.Semaphore(PARALLEL_FETCHES)

        async def one(message_id: str) -> None:
            async with gate:
                with contextlib.suppress(NotFoundError):
                    await self._client.request(
                        "POST", f"messages/{message_id}/modify", json={"addLabelIds": [label_id]}
                    )

        await asyncio.gather(*(one(message_id) for message_id in ids))

    async def _label_for(self, name: str) -> str:
        body = await self._client.get("labels")
        for label in body.get("labels", []):
            if str(label.get("name", "")).casefold() == name.casefold():
                return str(label["id"])
        created = await self._client.request(
            "POST",
            "labels",
            json={
                "name": name,
                "labelListVisibility": "labelShow",
                "messageListVisibility": "show",
            },
        )
        return str(created["id"])

    async def fetch(self, ids: Sequence[str]) -> list[ApiMessage]:
        gate = asyncio.Semaphore(PARALLEL_FETCHES)

        async def one(message_id: str) -> ApiMessage | None:
            async with gate:
                try:
                    body = await self._client.get(f"messages/{message_id}", {"format": "raw"})
                except NotFoundError:
                    return None  # deleted since it was listed
                except ServerAnsweredError as error:  # this message's failure alone
                    self.withheld[message_id] = first_line(str(error))
                    return None
            message = to_api_message(body)
            labels = body.get("labelIds")
            if not isinstance(labels, list):
                return message
            [(_, names)] = await self._names({message.id: [str(x) for x in labels]})
            return replace(message, categories=names)

        self.withheld = {}
        found = await asyncio.gather(*(one(message_id) for message_id in ids))
        return [message for message in found if message is not None]

    async def wait_for_change(self, timeout: float) -> bool:
        if self._push is None:
            await asyncio.sleep(timeout)
            return False
        await self._watch()
        return await self._push.waiter.wait(min(timeout, self._push.fallback_seconds))

    async def close(self) -> None:
        self.unsubscribe()
        await self._client.close()


def _push_of(profile: ServerProfile, address: str, hub: GmailPushHub | None) -> _Push | None:
    topic = profile.options.get("pubsub_topic")
    if not topic or hub is None:
        return None
    # Push only shortens the wait: a round still comes at least every polling interval
    # (five minutes at the shortest), so a lost notification delays mail, never loses it.
    fallback = max(60.0 * profile.min_polling_interval_minutes, FALLBACK_POLL_SECONDS)
    return _Push(hub, hub.subscribe(address, PushCheck.of(profile)), topic, fallback)


async def _user_label(client: GmailClient, folder: str) -> str:
    body = await client.get("labels")
    for label in body.get("labels", []):
        if str(label.get("name", "")).casefold() == folder.casefold():
            return str(label["id"])
    raise FolderMissingError(
        f"{client.address} has no Gmail label named '{folder}': create the label, or remove "
        "the folder from folder-level tracking"
    )
