"""What the EWS contract fake holds: mailboxes with their folders (by id, display name and
distinguished id), items with their MIME bytes, and the sync states handed out.

Sync states are opaque to clients (base64 of where the folder's change log was read up to);
forgetting them bumps an epoch so every earlier state reads as ErrorInvalidSyncStateData.
The log holds a Create when an item arrives, an Update when its categories change and a
Delete when it leaves (deleted, or moved out: the moved item is a Create, under a new ItemId,
in its new folder). SyncFolderItems reports all three:
learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/changes-items.
"""

from __future__ import annotations

import base64
import binascii
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

from tests.contract import ews_soap as soap
from tests.contract.ews_notifications import Subscriptions

#: The distinguished folders the fake knows, by DistinguishedFolderId, with display names.
DISTINGUISHED = {
    "root": "Root",
    "msgfolderroot": "Top of Information Store",
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "calendar": "Calendar",
}
#: Folder classes (folder:FolderClass) of the distinguished folders that hold no mail.
NOT_MAIL = {"calendar": "IPF.Appointment"}
#: The class of a folder of email messages.
MAIL_CLASS = "IPF.Note"


@dataclass
class Folder:
    id: str
    parent_id: str | None
    name: str
    #: folder:FolderClass: "IPF.Note" for mail, "IPF.Appointment" for a calendar, ...
    folder_class: str = MAIL_CLASS
    #: PR_ATTR_HIDDEN as set on the folder; None where it was never set.
    hidden: bool | None = None
    items: list[str] = field(default_factory=list)
    #: ("Create", "Update" or "Delete", item id), in the order they happened.
    log: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Item:
    id: str
    folder_id: str
    received_at: datetime
    raw: bytes
    #: Outlook categories (item:Categories), in the order set.
    categories: list[str] = field(default_factory=list)
    #: Exchange cannot make MIME content of it: GetItem answers the documented
    #: ErrorMimeContentConversionFailed for the item when MimeContent is asked for.
    unconvertible: bool = False


@dataclass
class Mailbox:
    address: str
    password: str | None
    folders: dict[str, Folder] = field(default_factory=dict)
    distinguished: dict[str, str] = field(default_factory=dict)
    sent: list[bytes] = field(default_factory=list)

    def child(self, parent_id: str, name: str) -> Folder | None:
        for folder in self.folders.values():
            if folder.parent_id == parent_id and folder.name.lower() == name.lower():
                return folder
        return None

    def folder_by_path(self, path: str) -> Folder:
        """ "INBOX", or display names under the message folder root ("Projects/Contoso")."""
        if path.upper() == "INBOX":
            return self.folders[self.distinguished["inbox"]]
        folder_id = self.distinguished["msgfolderroot"]
        for name in path.split("/"):
            found = self.child(folder_id, name)
            if found is None:
                raise KeyError(f"{self.address} has no folder {path!r}")
            folder_id = found.id
        return self.folders[folder_id]

    def folder_xml(self, folder: Folder, *, hidden_asked: bool = False) -> str:
        children = sum(1 for f in self.folders.values() if f.parent_id == folder.id)
        shown = hidden_asked and folder.hidden is not None
        return soap.folder_xml(
            folder.id,
            folder.parent_id,
            folder.name,
            len(folder.items),
            children,
            folder.folder_class,
            soap.hidden_xml(bool(folder.hidden)) if shown else "",
        )

    def descendants(self, parent_id: str) -> list[Folder]:
        """Every folder below ``parent_id``, each before its own children (Deep traversal)."""
        found = []
        for folder in self.folders.values():
            if folder.parent_id == parent_id:
                found += [folder, *self.descendants(folder.id)]
        return found


class Store:
    """Every mailbox of the fake; callers hold the fake's lock."""

    def __init__(self, subscriptions: Subscriptions) -> None:
        self.mailboxes: dict[str, Mailbox] = {}
        self.items: dict[str, Item] = {}
        self.subscriptions = subscriptions
        self.epoch = 0
        self._next_id = 0

    def add_mailbox(self, address: str, password: str | None) -> Mailbox:
        mailbox = Mailbox(address.lower(), password)
        root = self.add_folder(mailbox, None, DISTINGUISHED["root"])
        top = self.add_folder(mailbox, root.id, DISTINGUISHED["msgfolderroot"])
        mailbox.distinguished = {"root": root.id, "msgfolderroot": top.id}
        for key in ("inbox", "sentitems", "calendar"):
            folder = self.add_folder(mailbox, top.id, DISTINGUISHED[key], NOT_MAIL.get(key))
            mailbox.distinguished[key] = folder.id
        self.mailboxes[mailbox.address] = mailbox
        return mailbox

    def add_folder(
        self, mailbox: Mailbox, parent_id: str | None, name: str, folder_class: str | None = None
    ) -> Folder:
        folder = Folder(self._new_id("folder"), parent_id, name, folder_class or MAIL_CLASS)
        mailbox.folders[folder.id] = folder
        return folder

    def store(self, mailbox: Mailbox, folder: Folder, raw: bytes, received_at: datetime) -> str:
        """A new item in ``folder``; its subscriptions hear of it."""
        item = Item(self._new_id("item"), folder.id, received_at, raw)
        self.items[item.id] = item
        folder.items.append(item.id)
        folder.log.append(("Create", item.id))
        self.subscriptions.item_created(mailbox.address, folder.id, item.id)
        return item.id

    def set_categories(self, mailbox: Mailbox, item: Item, categories: list[str]) -> None:
        """An item's categories change: an Update in its folder's log, a ModifiedEvent."""
        item.categories = list(categories)
        mailbox.folders[item.folder_id].log.append(("Update", item.id))
        self.subscriptions.item_modified(mailbox.address, item.folder_id, item.id)

    def move(self, mailbox: Mailbox, item: Item, target: Folder) -> str:
        """The item leaves its folder (a Delete there) and comes into ``target`` under a new
        ItemId (a Create); subscribers of both hear a MovedEvent."""
        source = mailbox.folders[item.folder_id]
        source.items.remove(item.id)
        source.log.append(("Delete", item.id))
        del self.items[item.id]
        moved = Item(self._new_id("item"), target.id, item.received_at, item.raw, item.categories)
        self.items[moved.id] = moved
        target.items.append(moved.id)
        target.log.append(("Create", moved.id))
        self.subscriptions.item_moved(mailbox.address, source.id, target.id, item.id, moved.id)
        return moved.id

    def delete(self, mailbox: Mailbox, item: Item) -> None:
        """The item is gone for good: a Delete in its folder's log, a DeletedEvent."""
        folder = mailbox.folders[item.folder_id]
        folder.items.remove(item.id)
        folder.log.append(("Delete", item.id))
        del self.items[item.id]
        self.subscriptions.item_deleted(mailbox.address, folder.id, item.id)

    def resolve(self, mailbox: Mailbox, wanted: ET.Element) -> Folder | None:
        """A FolderId or DistinguishedFolderId element (whose Mailbox must be this one)."""
        if wanted.tag == f"{{{soap.T}}}DistinguishedFolderId":
            owner = soap.text_of(wanted, f"{{{soap.T}}}Mailbox/{{{soap.T}}}EmailAddress")
            owner = (owner or mailbox.address).strip().lower()
            if owner not in self.mailboxes:
                raise soap.EwsFault(
                    "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
                )
            if owner != mailbox.address:
                raise soap.EwsFault(
                    "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                )
            folder_id = mailbox.distinguished.get(wanted.get("Id", ""))
            return mailbox.folders.get(folder_id or "")
        return mailbox.folders.get(wanted.get("Id", ""))

    def sync_state(self, folder: Folder, position: int) -> str:
        token = json.dumps({"e": self.epoch, "f": folder.id, "n": position})
        return base64.b64encode(token.encode()).decode()

    def read_sync_state(self, state: str | None, folder: Folder) -> int | None:
        """Where a sync state points in the folder; None when it is not one of this folder's
        current states."""
        if not state:
            return 0
        try:
            token = json.loads(base64.b64decode(state))
        except (binascii.Error, ValueError):
            return None
        if not isinstance(token, dict) or token.get("e") != self.epoch:
            return None
        position = token.get("n")
        if token.get("f") != folder.id or not isinstance(position, int):
            return None
        return position if 0 <= position <= len(folder.log) else None

    def _new_id(self, kind: str) -> str:
        self._next_id += 1
        return base64.b64encode(f"AAMk-{kind}-{self._next_id:06d}".encode()).decode()
