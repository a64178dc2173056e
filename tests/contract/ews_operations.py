"""The EWS operations the contract fake answers, one function each, over its ``Store``.

Each takes the mailbox the request acts for and the operation's element, and returns the
response envelope (``Stream`` for GetStreamingEvents, whose response stays open); a fault of
the whole request is raised as ``EwsFault``. See ``ews_fake`` for the reference pages.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import quoteattr

from tests.contract import ews_soap as soap
from tests.contract.ews_soap import EwsFault
from tests.contract.ews_store import Mailbox, Store

NOT_FOUND = "The specified folder could not be found in the store."


@dataclass(frozen=True)
class Stream:
    """A GetStreamingEvents request: answered by a response that stays open."""

    ids: list[str]
    minutes: int


def get_folder(store: Store, mailbox: Mailbox, operation: ET.Element) -> str:
    messages = []
    for wanted in soap.children(operation, f"{{{soap.M}}}FolderIds"):
        folder = store.resolve(mailbox, wanted)
        if folder is None:
            messages.append(soap.error("GetFolder", "ErrorFolderNotFound", NOT_FOUND))
            continue
        folders = f"<m:Folders>{mailbox.folder_xml(folder)}</m:Folders>"
        messages.append(soap.success("GetFolder", folders))
    return soap.response("GetFolder", messages)


def find_folder(store: Store, mailbox: Mailbox, operation: ET.Element) -> str:
    """Shallow traversal (the children) or Deep (every descendant, each before its own
    children); an IsEqualTo restriction on the display name, if any; an
    IndexedPageFolderView's MaxEntriesReturned and Offset page the result, and the
    RootFolder's IndexedPagingOffset says where the next page starts. PR_ATTR_HIDDEN is
    returned where it is set, when the FolderShape asks for it."""
    traversal = operation.get("Traversal", "Shallow")
    if traversal not in ("Shallow", "Deep"):
        raise EwsFault("ErrorInvalidRequest", f"this fake offers no {traversal} traversal")
    constant = operation.find(f"{{{soap.M}}}Restriction//{{{soap.T}}}Constant")
    name = None if constant is None else (constant.get("Value") or "").lower()
    view = operation.find(f"{{{soap.M}}}IndexedPageFolderView")
    offset = int(view.get("Offset", "0")) if view is not None else 0
    size = view.get("MaxEntriesReturned") if view is not None else None
    hidden_asked = soap.asked_hidden(operation)
    messages = []
    for wanted in soap.children(operation, f"{{{soap.M}}}ParentFolderIds"):
        parent = store.resolve(mailbox, wanted)
        if parent is None:
            messages.append(soap.error("FindFolder", "ErrorFolderNotFound", NOT_FOUND))
            continue
        below = (
            mailbox.descendants(parent.id)
            if traversal == "Deep"
            else [f for f in mailbox.folders.values() if f.parent_id == parent.id]
        )
        found = [f for f in below if name is None or f.name.lower() == name]
        page = found[offset : offset + int(size)] if size else found[offset:]
        following = offset + len(page)
        last = "true" if following >= len(found) else "false"
        inner = "".join(mailbox.folder_xml(f, hidden_asked=hidden_asked) for f in page)
        messages.append(
            soap.success(
                "FindFolder",
                f'<m:RootFolder TotalItemsInView="{len(found)}" '
                f'IndexedPagingOffset="{following}" IncludesLastItemInRange="{last}">'
                f"<t:Folders>{inner}</t:Folders></m:RootFolder>",
            )
        )
    return soap.response("FindFolder", messages)


def sync_folder_items(store: Store, mailbox: Mailbox, operation: ET.Element) -> str:
    """Create, Update and Delete changes after the sync state, at most MaxChangesReturned of
    them (a Create or Update of an item that left the folder since is passed over: its Delete
    follows)."""
    wanted = operation.find(f"{{{soap.M}}}SyncFolderId/*")
    folder = store.resolve(mailbox, wanted) if wanted is not None else None
    if folder is None:
        failed = soap.error("SyncFolderItems", "ErrorFolderNotFound", NOT_FOUND)
        return soap.response("SyncFolderItems", [failed])
    start = store.read_sync_state(soap.text_of(operation, f"{{{soap.M}}}SyncState"), folder)
    if start is None:
        failed = soap.error(
            "SyncFolderItems",
            "ErrorInvalidSyncStateData",
            "Synchronization state data is corrupt or otherwise invalid.",
            # Exchange keeps the response's shape: an empty state, no changes.
            "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
        )
        return soap.response("SyncFolderItems", [failed])
    limit = int(soap.text_of(operation, f"{{{soap.M}}}MaxChangesReturned") or "512")
    window = folder.log[start : start + limit]
    end = start + len(window)
    fields = soap.requested_fields(operation)
    changes = "".join(
        f'<t:Delete><t:ItemId Id={quoteattr(i)} ChangeKey="CQAAAA=="/></t:Delete>'
        if kind == "Delete"
        else f"<t:{kind}>{soap.message_xml(i, item.received_at, None, fields, item.categories)}"
        f"</t:{kind}>"
        for kind, i in window
        if kind == "Delete"
        or ((item := store.items.get(i)) is not None and item.folder_id == folder.id)
    )
    last = "true" if end >= len(folder.log) else "false"
    content = (
        f"<m:SyncState>{store.sync_state(folder, end)}</m:SyncState>"
        f"<m:IncludesLastItemInRange>{last}</m:IncludesLastItemInRange>"
        f"<m:Changes>{changes}</m:Changes>"
    )
    return soap.response("SyncFolderItems", [soap.success("SyncFolderItems", content)])


def get_item(store: Store, mailbox: Mailbox, operation: ET.Element) -> str:
    """Items by ItemId; MimeContent when IncludeMimeContent or item:MimeContent asks."""
    fields = soap.requested_fields(operation)
    include = soap.text_of(operation, f"{{{soap.M}}}ItemShape/{{{soap.T}}}IncludeMimeContent")
    with_mime = include == "true" or "item:MimeContent" in fields
    messages = []
    for wanted in soap.children(operation, f"{{{soap.M}}}ItemIds"):
        item = store.items.get(wanted.get("Id", ""))
        if item is None or item.folder_id not in mailbox.folders:
            messages.append(
                soap.error(
                    "GetItem",
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                    "<m:Items/>",
                )
            )
            continue
        if with_mime and item.unconvertible:
            messages.append(
                soap.error(
                    "GetItem",
                    "ErrorMimeContentConversionFailed",
                    "Microsoft.Exchange.Data.Storage.ConversionFailedException: The message "
                    "content has become corrupted.",
                    "<m:Items/>",
                )
            )
            continue
        raw = item.raw if with_mime else None
        xml = soap.message_xml(item.id, item.received_at, raw, fields, item.categories)
        messages.append(soap.success("GetItem", f"<m:Items>{xml}</m:Items>"))
    return soap.response("GetItem", messages)


def update_item(store: Store, mailbox: Mailbox, operation: ET.Element) -> str:
    """SetItemField or DeleteItemField of item:Categories (the only field this fake updates);
    the item's folder logs an Update and its subscribers hear a ModifiedEvent."""
    messages = []
    for change in soap.children(operation, f"{{{soap.M}}}ItemChanges"):
        wanted = change.find(f"{{{soap.T}}}ItemId")
        item = store.items.get("" if wanted is None else wanted.get("Id", ""))
        if item is None or item.folder_id not in mailbox.folders:
            messages.append(
                soap.error(
                    "UpdateItem",
                    "ErrorItemNotFound",
                    "The specified object was not found in the store.",
                )
            )
            continue
        categories = list(item.categories)
        for update in soap.children(change, f"{{{soap.T}}}Updates"):
            uri = update.find(f"{{{soap.T}}}FieldURI")
            if uri is None or uri.get("FieldURI") != "item:Categories":
                raise EwsFault("ErrorInvalidRequest", "this fake updates only item:Categories")
            if update.tag == f"{{{soap.T}}}DeleteItemField":
                categories = []
            else:
                strings = update.iter(f"{{{soap.T}}}String")
                categories = [s.text or "" for s in strings]
        store.set_categories(mailbox, item, categories)
        content = (
            f"<m:Items>{soap.message_xml(item.id, item.received_at, None, set())}</m:Items>"
            "<m:ConflictResults><t:Count>0</t:Count></m:ConflictResults>"
        )
        messages.append(soap.success("UpdateItem", content))
    return soap.response("UpdateItem", messages)


def create_item(store: Store, mailbox: Mailbox, operation: ET.Element) -> str:
    """Send MimeContent as is and keep a copy in Sent Items (SendAndSaveCopy only)."""
    if operation.get("MessageDisposition") != "SendAndSaveCopy":
        raise EwsFault("ErrorInvalidRequest", "this fake only sends with SendAndSaveCopy")
    messages = []
    for message in soap.children(operation, f"{{{soap.M}}}Items"):
        mime = soap.text_of(message, f"{{{soap.T}}}MimeContent")
        if not mime:
            raise EwsFault("ErrorInvalidRequest", "this fake only sends MimeContent")
        raw = base64.b64decode(mime)
        mailbox.sent.append(raw)
        sent_items = mailbox.folders[mailbox.distinguished["sentitems"]]
        store.store(mailbox, sent_items, raw, datetime.now(UTC))
        messages.append(soap.success("CreateItem", "<m:Items/>"))
    return soap.response("CreateItem", messages)


def subscribe(store: Store, mailbox: Mailbox, operation: ET.Element) -> str:
    """A StreamingSubscriptionRequest on the folders named."""
    request = operation.find(f"{{{soap.M}}}StreamingSubscriptionRequest")
    if request is None:
        raise EwsFault("ErrorInvalidRequest", "this fake offers streaming subscriptions only")
    wanted = soap.children(request, f"{{{soap.T}}}FolderIds")
    folders = [store.resolve(mailbox, f) for f in wanted]
    if not folders or any(f is None for f in folders):
        failed = soap.error("Subscribe", "ErrorFolderNotFound", NOT_FOUND)
        return soap.response("Subscribe", [failed])
    events = {e.text or "" for e in soap.children(request, f"{{{soap.T}}}EventTypes")}
    folder_ids = {f.id for f in folders if f is not None}
    subscription = store.subscriptions.subscribe(mailbox.address, folder_ids, events)
    content = f"<m:SubscriptionId>{subscription}</m:SubscriptionId>"
    return soap.response("Subscribe", [soap.success("Subscribe", content)])


def get_streaming_events(store: Store, mailbox: Mailbox, operation: ET.Element) -> str | Stream:
    """A stream for known subscriptions; ErrorSubscriptionNotFound for the others."""
    ids = [e.text or "" for e in soap.children(operation, f"{{{soap.M}}}SubscriptionIds")]
    minutes = int(soap.text_of(operation, f"{{{soap.M}}}ConnectionTimeout") or "0")
    if not 1 <= minutes <= 30:
        raise EwsFault("ErrorInvalidRequest", "ConnectionTimeout must be 1 to 30 minutes")
    unknown = store.subscriptions.unknown(mailbox.address, ids)
    if not unknown:
        return Stream(ids, minutes)
    listed = "".join(f"<m:SubscriptionId>{i}</m:SubscriptionId>" for i in unknown)
    failed = soap.error(
        "GetStreamingEvents",
        "ErrorSubscriptionNotFound",
        "The specified subscription was not found.",
        f"<m:ErrorSubscriptionIds>{listed}</m:ErrorSubscriptionIds>",
    )
    return soap.response("GetStreamingEvents", [failed])


HANDLERS = {
    "GetFolder": get_folder,
    "FindFolder": find_folder,
    "SyncFolderItems": sync_folder_items,
    "GetItem": get_item,
    "CreateItem": create_item,
    "UpdateItem": update_item,
    "Subscribe": subscribe,
    "GetStreamingEvents": get_streaming_events,
}
