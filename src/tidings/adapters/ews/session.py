"""``EwsFolderSession``: one folder of one mailbox followed with SyncFolderItems.

The folder's SyncState is the cursor. One ``changes`` call is one SyncFolderItems request of
at most ``page_size`` changes; ``IncludesLastItemInRange`` false means another page follows.
Only Create changes are new mail (updates, deletions and read flags are not tracked). Items
come back by ItemId, with their MIME content, from GetItem.

SyncFolderItems: https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderitems-operation
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from exchangelib.fields import FieldPath
from exchangelib.items import ID_ONLY
from exchangelib.items import Message as EwsMessage
from exchangelib.properties import ItemId
from exchangelib.services import SyncFolderItems

from tidings.adapters.ews.account import Mailbox, mailbox_context, open_mailbox
from tidings.adapters.ews.errors import in_thread
from tidings.domain.credentials import Credential
from tidings.domain.server_profile import ServerProfile
from tidings.domain.sync import ApiMessage, DeltaPage

#: exchangelib's own default MaxChangesReturned (EWS allows 1 to 512).
PAGE_SIZE = 100
INBOX = "INBOX"


class EwsFolderSession:
    """A folder of a mailbox on Exchange Server, read through its sync state."""

    #: Polling only, for now: EWS streaming notifications are not used yet.
    supports_push = False

    def __init__(self, mailbox: Mailbox, folder: Any, page_size: int = PAGE_SIZE) -> None:
        self._mailbox = mailbox
        self._folder = folder
        self._page_size = page_size
        self._received = FieldPath(field=EwsMessage.get_field_by_fieldname("datetime_received"))

    async def changes(self, cursor: str | None, received_after: datetime | None) -> DeltaPage:
        """One SyncFolderItems page after ``cursor`` (the whole folder when None)."""
        return await in_thread(self._mailbox.context, lambda: self._page(cursor, received_after))

    def _page(self, cursor: str | None, received_after: datetime | None) -> DeltaPage:
        service = SyncFolderItems(account=self._mailbox.account)
        changes = list(
            service.call(
                folder=self._folder,
                shape=ID_ONLY,
                additional_fields={self._received},
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
        return DeltaPage(
            added, str(service.sync_state), more=not service.includes_last_item_in_range
        )

    async def fetch(self, ids: Sequence[str]) -> list[ApiMessage]:
        """GetItem with the MIME content; items deleted since are left out."""
        return await in_thread(self._mailbox.context, lambda: self._fetch(ids))

    def _fetch(self, ids: Sequence[str]) -> list[ApiMessage]:
        if not ids:
            return []
        items = self._mailbox.account.fetch(
            ids=[ItemId(id=item_id) for item_id in ids],
            only_fields=["mime_content", "datetime_received"],
        )
        return [
            ApiMessage(item.id, item.datetime_received, bytes(item.mime_content))
            for item in items
            if not isinstance(item, Exception) and item.mime_content is not None
        ]

    async def wait_for_change(self, timeout: float) -> bool:
        """No notifications: wait out the polling interval."""
        await asyncio.sleep(timeout)
        return False

    async def close(self) -> None:
        await asyncio.to_thread(self._mailbox.close)


class EwsFolderOpener:
    """Opens a tracked folder: the Inbox, or a path of display names under the message
    folder root ("Projects/Contoso"), found with FindFolder one level at a time."""

    def __init__(self, page_size: int = PAGE_SIZE) -> None:
        self._page_size = page_size

    async def __call__(
        self, profile: ServerProfile, credential: Credential, address: str, folder: str
    ) -> EwsFolderSession:
        def open_folder() -> EwsFolderSession:
            mailbox = open_mailbox(profile, credential, address, folder)
            return EwsFolderSession(mailbox, find_folder(mailbox, folder), self._page_size)

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
