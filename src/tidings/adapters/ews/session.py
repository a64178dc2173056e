"""``EwsFolderSession``: one folder of one mailbox followed with SyncFolderItems.

The folder's SyncState is the cursor. One ``changes`` call is one SyncFolderItems request of
at most ``page_size`` changes; ``IncludesLastItemInRange`` false means another page follows.
Only Create changes are new mail; Create and Update changes carry each item's categories
(item:Categories), where a person's "Tracked" category is read, and ``add_category`` writes
Tidings' own with UpdateItem. Delete changes (an item deleted, or moved out: a moved item
has a new ItemId in its new folder) are the page's ``removed``; read flags are not followed.
Items come back by ItemId, with their MIME content, from GetItem.

Between rounds the session listens on a streaming subscription to the folder, made when it
opens: GetStreamingEvents holds one HTTP response open and ends it at the first event that
may mean new mail (NewMail, Created, Moved or Copied) or mail gone (Deleted), or when its
window (at most 30 minutes) closes. The subscription comes first so that nothing arriving
during a round is missed: its events wait at the server for the next connection. A server
that refuses streaming subscriptions, or a profile whose ``notifications`` option is
``polling``, leaves the folder polled. Each listening folder holds an HTTP connection and a thread.

SyncFolderItems: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderitems-operation
Streaming notifications: https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/notification-subscriptions-mailbox-events-and-ews-in-exchange
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from exchangelib import errors as ews
from exchangelib.fields import FieldPath
from exchangelib.items import ID_ONLY
from exchangelib.items import Message as EwsMessage
from exchangelib.properties import ItemId
from exchangelib.services import GetStreamingEvents, SyncFolderItems

from tidings.adapters.ews.account import Mailbox, mailbox_context, open_mailbox
from tidings.adapters.ews.threads import CONNECTION_ERRORS, in_own_thread, in_thread
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.error_text import first_line
from tidings.domain.mail_api import ApiMessage, DeltaPage
from tidings.domain.server_profile import ServerProfile

log = logging.getLogger(__name__)

#: Per-item answers that are Exchange's state, not the item's: the whole fetch is retried.
_WHOLE_REQUEST_ERRORS = (
    ews.ErrorServerBusy,
    ews.ErrorInternalServerTransientError,
    ews.ErrorTimeoutExpired,
    ews.ErrorMailboxStoreUnavailable,
    ews.ErrorMailboxMoveInProgress,
    ews.ErrorConnectionFailed,
)

#: exchangelib's own default MaxChangesReturned (EWS allows 1 to 512).
PAGE_SIZE = 100
INBOX = "INBOX"
#: Events that may bring a message into the folder, or change its categories.
EVENT_TYPES = [
    "NewMailEvent",
    "CreatedEvent",
    "MovedEvent",
    "CopiedEvent",
    "ModifiedEvent",
    "DeletedEvent",
]
#: A stream cut short after this many seconds was working: look, then listen again. One cut
#: sooner is a failure, left to the engine's back-off so that it cannot spin.
ESTABLISHED_SECONDS = 5.0
#: Items listed by SyncFolderItems kept for ``add_category``, at most.
LISTED_KEPT = 5000
#: What a server that does not offer streaming subscriptions to this account answers.
NO_STREAMING = (
    ews.ErrorInvalidSubscriptionRequest,
    ews.ErrorExceededSubscriptionCount,
    ews.ErrorSubscriptionAccessDenied,
    ews.ErrorSubscriptionDelegateAccessNotSupported,
    ews.ErrorInvalidRequest,
)


class EwsFolderSession:
    """A folder of a mailbox on Exchange Server, read through its sync state."""

    def __init__(
        self,
        mailbox: Mailbox,
        folder: Any,
        page_size: int = PAGE_SIZE,
        subscription: str | None = None,
    ) -> None:
        self._mailbox = mailbox
        self._folder = folder
        self._page_size = page_size
        self._subscription = subscription
        #: Streaming notifications wake ``wait_for_change``; without them it polls.
        self.supports_push = subscription is not None
        #: Items of the last ``fetch`` that Exchange holds but did not hand over, and why.
        self.withheld: dict[str, str] = {}
        self._received = FieldPath(field=EwsMessage.get_field_by_fieldname("datetime_received"))
        self._categories = FieldPath(field=EwsMessage.get_field_by_fieldname("categories"))
        #: Items the last pages listed (id, change key, categories): writing the category
        #: onto them needs no GetItem first.
        self._listed: dict[str, Any] = {}

    async def changes(self, cursor: str | None, received_after: datetime | None) -> DeltaPage:
        """One SyncFolderItems page after ``cursor`` (the whole folder when None)."""
        return await in_thread(self._mailbox.context, lambda: self._page(cursor, received_after))

    def _page(self, cursor: str | None, received_after: datetime | None) -> DeltaPage:
        service = SyncFolderItems(account=self._mailbox.account)
        changes = list(
            service.call(
                folder=self._folder,
                shape=ID_ONLY,
                additional_fields={self._received, self._categories},
                sync_state=cursor,
                ignore=None,
                max_changes_returned=self._page_size,
                sync_scope=None,
            )
        )
        for change in changes:
            if isinstance(change, Exception):
                raise change
        added = tuple(
            item.id
            for kind, item in changes
            if kind == SyncFolderItems.CREATE
            and not (
                received_after
                and item.datetime_received
                and item.datetime_received < received_after
            )
        )
        listed = [
            item
            for kind, item in changes
            if kind in (SyncFolderItems.CREATE, SyncFolderItems.UPDATE)
        ]
        if len(self._listed) > LISTED_KEPT:
            self._listed.clear()
        self._listed.update((item.id, item) for item in listed)
        categories = tuple((item.id, tuple(item.categories or ())) for item in listed)
        removed = tuple(item.id for kind, item in changes if kind == SyncFolderItems.DELETE)
        return DeltaPage(
            added,
            str(service.sync_state),
            more=not service.includes_last_item_in_range,
            categories=categories,
            removed=removed,
        )

    async def add_category(self, ids: Sequence[str], category: str) -> None:
        """Add ``category`` to these items, keeping their others (UpdateItem replaces the
        whole item:Categories); an item gone since is passed over."""
        await in_thread(self._mailbox.context, lambda: self._add_category(ids, category))

    def _add_category(self, ids: Sequence[str], category: str) -> None:
        unknown = [item_id for item_id in ids if item_id not in self._listed]
        items = [self._listed.pop(item_id) for item_id in ids if item_id in self._listed]
        if unknown:
            items += self._mailbox.account.fetch(
                ids=[ItemId(id=item_id) for item_id in unknown], only_fields=["categories"]
            )
        changes = []
        for item in items:
            if isinstance(item, Exception):
                continue
            current = list(item.categories or [])
            if category.lower() not in (c.lower() for c in current):
                item.categories = [*current, category]
                changes.append((item, ["categories"]))
        if not changes:
            return
        for result in self._mailbox.account.bulk_update(changes):
            if isinstance(result, Exception):
                log.warning("%s refused the category: %s", self._mailbox.context.address, result)

    async def fetch(self, ids: Sequence[str]) -> list[ApiMessage]:
        """GetItem with the MIME content; items deleted since are left out, and items
        Exchange answered with an error of their own (ErrorMimeContentConversionFailed for
        a corrupted item) are left out and named in ``withheld``."""
        self.withheld = {}
        return await in_thread(self._mailbox.context, lambda: self._fetch(ids))

    def _fetch(self, ids: Sequence[str]) -> list[ApiMessage]:
        if not ids:
            return []
        items = self._mailbox.account.fetch(
            ids=[ItemId(id=item_id) for item_id in ids],
            only_fields=["mime_content", "datetime_received"],
        )
        found = []
        # exchangelib answers in the order asked, an exception in place of a failed item.
        for item_id, item in zip(ids, items, strict=True):
            if isinstance(item, ews.ErrorItemNotFound):
                continue  # deleted since it was listed
            if isinstance(item, _WHOLE_REQUEST_ERRORS):
                raise item  # Exchange is busy or unwell, not this item: the round retries
            if isinstance(item, Exception):
                self.withheld[item_id] = f"{type(item).__name__}: {first_line(str(item))}"
            elif item.mime_content is None:
                self.withheld[item_id] = "Exchange sent no MIME content"
            else:
                found.append(ApiMessage(item.id, item.datetime_received, bytes(item.mime_content)))
        return found

    async def wait_for_change(self, timeout: float) -> bool:
        """Listen for events for ``timeout`` seconds (whole minutes, at least one, when
        streaming); without a subscription, wait out the polling interval."""
        if self._subscription is None:
            await asyncio.sleep(timeout)
            return False
        return await in_own_thread(self._mailbox.context, lambda: self._listen(timeout))

    def _listen(self, timeout: float) -> bool:
        minutes = min(30, max(1, int(timeout // 60)))
        stream = GetStreamingEvents(account=self._mailbox.account)
        started = time.monotonic()
        try:
            for notification in stream.call(
                subscription_ids=[self._subscription], connection_timeout=minutes
            ):
                if notification.events:
                    return True
            return False
        except (*CONNECTION_ERRORS, ews.ErrorTimeoutExpired) as error:
            # A connection cut short (an idle timeout on the way, a restart, ``close``):
            # events may have been missed, so look.
            established = stream.connection_status is not None
            if not established and time.monotonic() - started < ESTABLISHED_SECONDS:
                raise
            log.info("streaming for %s ended early: %s", self._mailbox.context.address, error)
            return True
        except (ews.ErrorSubscriptionNotFound, ews.ErrorInvalidSubscription):
            # Exchange dropped the subscription (restarted, or left it unattended too
            # long): subscribe again, and look, since events may have been lost meanwhile.
            self._subscription = subscribe(self._folder)
            self.supports_push = self._subscription is not None
            return True
        finally:
            stream.stop_streaming()

    async def close(self) -> None:
        """End a GetStreamingEvents connection, if one is open, and the HTTP sessions."""
        await asyncio.to_thread(self._mailbox.close)


class EwsFolderOpener:
    """Opens a tracked folder: the Inbox, or a path of display names under the message
    folder root ("Projects/Contoso"), found with FindFolder one level at a time."""

    def __init__(self, page_size: int = PAGE_SIZE, tokens: GraphTokens | None = None) -> None:
        self._page_size = page_size
        #: Where OAuth profiles' access tokens come from.
        self._tokens = tokens or GraphTokens()

    async def __call__(
        self, profile: ServerProfile, credential: Credential, address: str, folder: str
    ) -> EwsFolderSession:
        def open_folder() -> EwsFolderSession:
            mailbox = open_mailbox(profile, credential, address, folder, tokens=self._tokens)
            found = find_folder(mailbox, folder)
            streaming = profile.options.get("notifications", "").lower() != "polling"
            subscription = subscribe(found) if streaming else None
            return EwsFolderSession(mailbox, found, self._page_size, subscription)

        context = mailbox_context(profile, address, folder)
        return await in_thread(context, open_folder)


def find_folder(mailbox: Mailbox, path: str) -> Any:
    """The exchangelib folder for a Tidings folder name."""
    if path.upper() == INBOX:
        return mailbox.account.inbox
    folder = mailbox.account.msg_folder_root
    for name in path.split("/"):
        folder = folder // name
    return folder


def subscribe(folder: Any) -> str | None:
    """A streaming subscription to the folder; None when the server offers none."""
    try:
        return str(folder.subscribe_to_streaming(event_types=EVENT_TYPES))
    except NO_STREAMING as error:
        log.info("no streaming notifications for %s (%s): polling", folder.name, error)
        return None
