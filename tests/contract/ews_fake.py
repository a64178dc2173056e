"""``FakeEwsServer``: a contract fake of Exchange Web Services for exactly what Tidings' EWS
adapter asks through exchangelib, served over HTTPS on a free loopback port.

Written from Microsoft's EWS reference:

- SyncFolderItems (SyncState, MaxChangesReturned, IncludesLastItemInRange, Changes/Create):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderitems-operation
- GetItem (ItemShape, IncludeMimeContent, MimeContent in base64):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getitem-operation-email-message
- CreateItem with MessageDisposition="SendAndSaveCopy" and MimeContent:
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createitem-operation-email-message
- GetFolder (DistinguishedFolderId root, msgfolderroot, inbox, sentitems):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getfolder-operation
- FindFolder (Shallow traversal, an IsEqualTo restriction on folder:DisplayName):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/findfolder-operation
- ExchangeImpersonation (ConnectingSID/PrimarySmtpAddress; the ApplicationImpersonation role):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/exchangeimpersonation
  https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/impersonation-and-ews-in-exchange
- ResponseCode values (ErrorImpersonateUserDenied, ErrorNonExistentMailbox,
  ErrorInvalidSyncStateData, ErrorItemNotFound, ErrorFolderNotFound, ErrorServerBusy):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode
- Throttling: ErrorServerBusy as a SOAP fault whose MessageXml carries BackOffMilliseconds:
  https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange
- Streaming notifications (Subscribe, GetStreamingEvents): see ``ews_notifications``.

Authentication is HTTP Basic: 401 for a wrong user name or password. A service account may
impersonate mailboxes when allowed to (``ErrorImpersonateUserDenied`` otherwise); a mailbox's
own credentials reach that mailbox only (delegate access to oneself). Sync states are opaque
tokens the fake can forget (``ErrorInvalidSyncStateData``). Folder paths are display names
under the message folder root ("Projects/Contoso").

Usage::

    with FakeEwsServer(tmp_path / "ews") as ews:
        ews.add_mailbox("dana@northwind.example", password="dana-pass")
        ews.set_service_account("svc-tidings", "svc-pass", may_impersonate=True)
        ews.deliver("dana@northwind.example", raw)
        ews.url, ews.ca_file     # for exchangelib's Configuration and requests' verify
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import socket
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.contract import ews_soap as soap
from tests.contract.ews_notifications import Subscriptions
from tests.servers.dovecot import issue_certificates

PATH = "/EWS/Exchange.asmx"
#: The distinguished folders the fake knows, by DistinguishedFolderId, with display names.
DISTINGUISHED = {
    "root": "Root",
    "msgfolderroot": "Top of Information Store",
    "inbox": "Inbox",
    "sentitems": "Sent Items",
}


@dataclass
class _Folder:
    id: str
    parent_id: str | None
    name: str
    items: list[str] = field(default_factory=list)


@dataclass
class _Item:
    id: str
    folder_id: str
    received_at: datetime
    raw: bytes


@dataclass
class _Mailbox:
    address: str
    password: str | None
    folders: dict[str, _Folder] = field(default_factory=dict)
    distinguished: dict[str, str] = field(default_factory=dict)
    sent: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class _Stream:
    """A GetStreamingEvents request: answered by a response that stays open."""

    ids: list[str]
    minutes: int


class EwsFault(Exception):
    def __init__(self, code: str, text: str, back_off_ms: int | None = None) -> None:
        super().__init__(text)
        self.code, self.text, self.back_off_ms = code, text, back_off_ms


class FakeEwsServer:
    """An Exchange Server's EWS endpoint for tests, with a Python API to set it up."""

    def __init__(self, directory: Path, minute_seconds: float = 60.0) -> None:
        self.certificates = issue_certificates(directory / "tls")
        self.ca_file = self.certificates.ca_file
        self._lock = threading.Lock()
        self._requested = threading.Condition(self._lock)
        self._mailboxes: dict[str, _Mailbox] = {}
        self._items: dict[str, _Item] = {}
        self._service: tuple[str, str, bool] | None = None
        self._epoch = 0
        self._next_id = 0
        self._busy: list[int] = []
        self.subscriptions = Subscriptions(self._lock)
        self.subscriptions.minute_seconds = minute_seconds
        #: How many requests were answered with ErrorServerBusy.
        self.busy_answers = 0
        #: (operation, mailbox address) of every authenticated request, in order.
        self.requests: list[tuple[str, str]] = []
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"https://127.0.0.1:{self.port}{PATH}"
        app = Starlette(routes=[Route(PATH, self._handle, methods=["POST"])])
        config = uvicorn.Config(
            app,
            log_level="warning",
            ssl_certfile=str(self.certificates.cert_file),
            ssl_keyfile=str(self.certificates.key_file),
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, daemon=True)

    # -- the tests' API -------------------------------------------------------------------

    def add_mailbox(self, address: str, password: str | None = None) -> None:
        """A mailbox with its distinguished folders; ``password`` lets it log in itself."""
        with self._lock:
            mailbox = _Mailbox(address.lower(), password)
            root = self._add_folder(mailbox, None, DISTINGUISHED["root"])
            top = self._add_folder(mailbox, root.id, DISTINGUISHED["msgfolderroot"])
            mailbox.distinguished = {"root": root.id, "msgfolderroot": top.id}
            for key in ("inbox", "sentitems"):
                mailbox.distinguished[key] = self._add_folder(
                    mailbox, top.id, DISTINGUISHED[key]
                ).id
            self._mailboxes[mailbox.address] = mailbox

    def create_folder(self, address: str, path: str) -> None:
        """Folders by display name under the message folder root, parents made as needed."""
        with self._lock:
            mailbox = self._mailboxes[address.lower()]
            parent = mailbox.distinguished["msgfolderroot"]
            for name in path.split("/"):
                found = self._child(mailbox, parent, name)
                parent = (found or self._add_folder(mailbox, parent, name)).id

    def set_service_account(self, username: str, password: str, *, may_impersonate: bool) -> None:
        """The account an admin gives Tidings; ``may_impersonate``: the ApplicationImpersonation
        role is assigned to it."""
        with self._lock:
            self._service = (username.lower(), password, may_impersonate)

    def set_password(self, address: str, password: str) -> None:
        with self._lock:
            self._mailboxes[address.lower()].password = password

    def deliver(
        self, address: str, raw: bytes, folder: str = "INBOX", received_at: datetime | None = None
    ) -> str:
        """Put ``raw`` into ``folder`` ("INBOX" or a display-name path); returns its ItemId."""
        with self._lock:
            mailbox = self._mailboxes[address.lower()]
            target = self._folder_by_path(mailbox, folder)
            return self._store(mailbox, target, raw, received_at or datetime.now(UTC))

    def forget_sync_states(self) -> None:
        """Every sync state handed out so far becomes invalid (ErrorInvalidSyncStateData)."""
        with self._lock:
            self._epoch += 1

    def forget_subscriptions(self) -> None:
        """Every streaming subscription expires (ErrorSubscriptionNotFound from then on)."""
        with self._lock:
            self.subscriptions.forget()

    def make_busy(self, requests: int, back_off_ms: int = 200) -> None:
        """Answer the next ``requests`` authenticated requests with ErrorServerBusy."""
        with self._lock:
            self._busy.extend([back_off_ms] * requests)

    def sent(self, address: str) -> list[bytes]:
        """The MIME of every message sent through the mailbox, as sent."""
        with self._lock:
            return list(self._mailboxes[address.lower()].sent)

    def operations(self, address: str) -> list[str]:
        """The operations authenticated requests ran on the mailbox, in order."""
        with self._lock:
            return [name for name, target in self.requests if target == address.lower()]

    def wait_for_request(self, operation: str, address: str, count: int = 1) -> None:
        """Block until the mailbox has had ``count`` requests of ``operation``."""

        def seen() -> bool:
            return [n for n, a in self.requests if a == address.lower()].count(operation) >= count

        with self._requested:
            assert self._requested.wait_for(seen, timeout=20), f"no {operation} for {address}"

    # -- running ----------------------------------------------------------------------------

    def start(self) -> FakeEwsServer:
        # The socket listens before the thread starts: clients connect at once, no waiting.
        self._socket.listen(64)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        # Clients keep their connections alive; waiting for them to leave would wait forever.
        self._server.force_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> FakeEwsServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    # -- the endpoint -----------------------------------------------------------------------

    async def _handle(self, http: HttpRequest) -> Response:
        user = self._authenticate(http.headers.get("authorization", ""))
        if user is None:
            return Response(status_code=401, headers={"WWW-Authenticate": 'Basic realm="ews"'})
        body = await http.body()
        try:
            request = soap.parse_request(body)
        except (ET.ParseError, ValueError):
            return Response(status_code=400)
        with self._lock:
            try:
                answer = self._dispatch(user, request)
            except EwsFault as failed:
                text = soap.fault(failed.code, failed.text, failed.back_off_ms)
                return Response(text, status_code=500, media_type="text/xml; charset=utf-8")
        if isinstance(answer, _Stream):
            events = self.subscriptions.stream(answer.ids, answer.minutes)
            return StreamingResponse(events, media_type="text/xml; charset=utf-8")
        return Response(answer, media_type="text/xml; charset=utf-8")

    def _authenticate(self, header: str) -> str | None:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username = username.lower()
        with self._lock:
            if self._service and (username, password) == self._service[:2]:
                return username
            mailbox = self._mailboxes.get(username)
            if mailbox and mailbox.password is not None and mailbox.password == password:
                return username
        return None

    def _dispatch(self, user: str, request: soap.Request) -> str | _Stream:
        mailbox = self._target(user, request.impersonated)
        self.requests.append((request.name, mailbox.address))
        self._requested.notify_all()
        if self._busy:
            self.busy_answers += 1
            raise EwsFault(
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.",
                self._busy.pop(0),
            )
        handler = {
            "GetFolder": self._get_folder,
            "FindFolder": self._find_folder,
            "SyncFolderItems": self._sync_folder_items,
            "GetItem": self._get_item,
            "CreateItem": self._create_item,
            "Subscribe": self._subscribe,
            "GetStreamingEvents": self._get_streaming_events,
        }.get(request.name)
        if handler is None:
            raise EwsFault("ErrorInvalidRequest", f"{request.name} is not offered by this fake")
        return handler(mailbox, request.operation)

    def _target(self, user: str, impersonated: str | None) -> _Mailbox:
        service = self._service is not None and user == self._service[0]
        if impersonated is not None:
            if not service or not self._service or not self._service[2]:
                raise EwsFault(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                )
            address = impersonated
        else:
            address = user
        mailbox = self._mailboxes.get(address)
        if mailbox is None:
            raise EwsFault(
                "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
            )
        return mailbox

    # -- operations -------------------------------------------------------------------------

    def _get_folder(self, mailbox: _Mailbox, operation: ET.Element) -> str:
        messages = []
        for wanted in soap.children(operation, f"{{{soap.M}}}FolderIds"):
            folder = self._resolve(mailbox, wanted)
            if folder is None:
                messages.append(
                    soap.error(
                        "GetFolder",
                        "ErrorFolderNotFound",
                        "The specified folder could not be found in the store.",
                    )
                )
                continue
            folders = "<m:Folders>" + self._folder_xml(mailbox, folder) + "</m:Folders>"
            messages.append(soap.success("GetFolder", folders))
        return soap.response("GetFolder", messages)

    def _find_folder(self, mailbox: _Mailbox, operation: ET.Element) -> str:
        name = None
        constant = operation.find(f"{{{soap.M}}}Restriction//{{{soap.T}}}Constant")
        if constant is not None:
            name = (constant.get("Value") or "").lower()
        messages = []
        for wanted in soap.children(operation, f"{{{soap.M}}}ParentFolderIds"):
            parent = self._resolve(mailbox, wanted)
            if parent is None:
                messages.append(
                    soap.error(
                        "FindFolder",
                        "ErrorFolderNotFound",
                        "The specified folder could not be found in the store.",
                    )
                )
                continue
            found = [
                f
                for f in mailbox.folders.values()
                if f.parent_id == parent.id and (name is None or f.name.lower() == name)
            ]
            inner = "".join(self._folder_xml(mailbox, f) for f in found)
            messages.append(
                soap.success(
                    "FindFolder",
                    f'<m:RootFolder TotalItemsInView="{len(found)}" IndexedPagingOffset="{len(found)}"'
                    f' IncludesLastItemInRange="true"><t:Folders>{inner}</t:Folders></m:RootFolder>',
                )
            )
        return soap.response("FindFolder", messages)

    def _sync_folder_items(self, mailbox: _Mailbox, operation: ET.Element) -> str:
        wanted = operation.find(f"{{{soap.M}}}SyncFolderId/*")
        folder = self._resolve(mailbox, wanted) if wanted is not None else None
        if folder is None:
            return soap.response(
                "SyncFolderItems",
                [
                    soap.error(
                        "SyncFolderItems",
                        "ErrorFolderNotFound",
                        "The specified folder could not be found in the store.",
                    )
                ],
            )
        start = self._read_sync_state(soap.text_of(operation, f"{{{soap.M}}}SyncState"), folder)
        if start is None:
            return soap.response(
                "SyncFolderItems",
                [
                    soap.error(
                        "SyncFolderItems",
                        "ErrorInvalidSyncStateData",
                        "Synchronization state data is corrupt or otherwise invalid.",
                        # Exchange keeps the response's shape: an empty state, no changes.
                        "<m:SyncState/><m:IncludesLastItemInRange>true</m:IncludesLastItemInRange>",
                    )
                ],
            )
        limit = int(soap.text_of(operation, f"{{{soap.M}}}MaxChangesReturned") or "512")
        ids = folder.items[start : start + limit]
        end = start + len(ids)
        fields = soap.requested_fields(operation)
        changes = "".join(
            "<t:Create>"
            + soap.message_xml(i, self._items[i].received_at, None, fields)
            + "</t:Create>"
            for i in ids
        )
        last = "true" if end >= len(folder.items) else "false"
        content = (
            f"<m:SyncState>{self._sync_state(folder, end)}</m:SyncState>"
            f"<m:IncludesLastItemInRange>{last}</m:IncludesLastItemInRange>"
            f"<m:Changes>{changes}</m:Changes>"
        )
        return soap.response("SyncFolderItems", [soap.success("SyncFolderItems", content)])

    def _get_item(self, mailbox: _Mailbox, operation: ET.Element) -> str:
        fields = soap.requested_fields(operation)
        with_mime = (
            soap.text_of(operation, f"{{{soap.M}}}ItemShape/{{{soap.T}}}IncludeMimeContent")
            == "true"
            or "item:MimeContent" in fields
        )
        messages = []
        for wanted in soap.children(operation, f"{{{soap.M}}}ItemIds"):
            item = self._items.get(wanted.get("Id", ""))
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
            xml = soap.message_xml(
                item.id, item.received_at, item.raw if with_mime else None, fields
            )
            messages.append(soap.success("GetItem", f"<m:Items>{xml}</m:Items>"))
        return soap.response("GetItem", messages)

    def _create_item(self, mailbox: _Mailbox, operation: ET.Element) -> str:
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
            self._store(mailbox, sent_items, raw, datetime.now(UTC))
            messages.append(soap.success("CreateItem", "<m:Items/>"))
        return soap.response("CreateItem", messages)

    def _subscribe(self, mailbox: _Mailbox, operation: ET.Element) -> str:
        request = operation.find(f"{{{soap.M}}}StreamingSubscriptionRequest")
        if request is None:
            raise EwsFault("ErrorInvalidRequest", "this fake offers streaming subscriptions only")
        folders = [
            self._resolve(mailbox, f) for f in soap.children(request, f"{{{soap.T}}}FolderIds")
        ]
        if not folders or any(f is None for f in folders):
            return soap.response(
                "Subscribe",
                [
                    soap.error(
                        "Subscribe",
                        "ErrorFolderNotFound",
                        "The specified folder could not be found in the store.",
                    )
                ],
            )
        events = {e.text or "" for e in soap.children(request, f"{{{soap.T}}}EventTypes")}
        folder_ids = {f.id for f in folders if f is not None}
        subscription = self.subscriptions.subscribe(mailbox.address, folder_ids, events)
        content = f"<m:SubscriptionId>{subscription}</m:SubscriptionId>"
        return soap.response("Subscribe", [soap.success("Subscribe", content)])

    def _get_streaming_events(self, mailbox: _Mailbox, operation: ET.Element) -> str | _Stream:
        ids = [e.text or "" for e in soap.children(operation, f"{{{soap.M}}}SubscriptionIds")]
        minutes = int(soap.text_of(operation, f"{{{soap.M}}}ConnectionTimeout") or "0")
        if not 1 <= minutes <= 30:
            raise EwsFault("ErrorInvalidRequest", "ConnectionTimeout must be 1 to 30 minutes")
        unknown = self.subscriptions.unknown(mailbox.address, ids)
        if unknown:
            listed = "".join(f"<m:SubscriptionId>{i}</m:SubscriptionId>" for i in unknown)
            return soap.response(
                "GetStreamingEvents",
                [
                    soap.error(
                        "GetStreamingEvents",
                        "ErrorSubscriptionNotFound",
                        "The specified subscription was not found.",
                        f"<m:ErrorSubscriptionIds>{listed}</m:ErrorSubscriptionIds>",
                    )
                ],
            )
        return _Stream(ids, minutes)

    # -- state ------------------------------------------------------------------------------

    def _add_folder(self, mailbox: _Mailbox, parent_id: str | None, name: str) -> _Folder:
        folder = _Folder(self._new_id("folder"), parent_id, name)
        mailbox.folders[folder.id] = folder
        return folder

    def _store(self, mailbox: _Mailbox, folder: _Folder, raw: bytes, received_at: datetime) -> str:
        item = _Item(self._new_id("item"), folder.id, received_at, raw)
        self._items[item.id] = item
        folder.items.append(item.id)
        self.subscriptions.item_created(mailbox.address, folder.id, item.id)
        return item.id

    def _new_id(self, kind: str) -> str:
        self._next_id += 1
        return base64.b64encode(f"AAMk-{kind}-{self._next_id:06d}".encode()).decode()

    @staticmethod
    def _child(mailbox: _Mailbox, parent_id: str, name: str) -> _Folder | None:
        for folder in mailbox.folders.values():
            if folder.parent_id == parent_id and folder.name.lower() == name.lower():
                return folder
        return None

    def _folder_by_path(self, mailbox: _Mailbox, path: str) -> _Folder:
        if path.upper() == "INBOX":
            return mailbox.folders[mailbox.distinguished["inbox"]]
        folder_id = mailbox.distinguished["msgfolderroot"]
        for name in path.split("/"):
            found = self._child(mailbox, folder_id, name)
            if found is None:
                raise KeyError(f"{mailbox.address} has no folder {path!r}")
            folder_id = found.id
        return mailbox.folders[folder_id]

    def _resolve(self, mailbox: _Mailbox, wanted: ET.Element) -> _Folder | None:
        """A FolderId or DistinguishedFolderId element (whose Mailbox must be this one)."""
        if wanted.tag == f"{{{soap.T}}}DistinguishedFolderId":
            owner = soap.text_of(wanted, f"{{{soap.T}}}Mailbox/{{{soap.T}}}EmailAddress")
            owner = (owner or mailbox.address).strip().lower()
            if owner not in self._mailboxes:
                raise EwsFault(
                    "ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."
                )
            if owner != mailbox.address:
                raise EwsFault(
                    "ErrorAccessDenied", "Access is denied. Check credentials and try again."
                )
            folder_id = mailbox.distinguished.get(wanted.get("Id", ""))
            return mailbox.folders.get(folder_id or "")
        return mailbox.folders.get(wanted.get("Id", ""))

    def _folder_xml(self, mailbox: _Mailbox, folder: _Folder) -> str:
        children = sum(1 for f in mailbox.folders.values() if f.parent_id == folder.id)
        return soap.folder_xml(
            folder.id, folder.parent_id, folder.name, len(folder.items), children
        )

    def _sync_state(self, folder: _Folder, position: int) -> str:
        token = json.dumps({"e": self._epoch, "f": folder.id, "n": position})
        return base64.b64encode(token.encode()).decode()

    def _read_sync_state(self, state: str | None, folder: _Folder) -> int | None:
        """Where a sync state points in the folder; None when it is not one of this folder's
        current states."""
        if not state:
            return 0
        try:
            token = json.loads(base64.b64decode(state))
        except (binascii.Error, ValueError):
            return None
        if (
            not isinstance(token, dict)
            or token.get("e") != self._epoch
            or token.get("f") != folder.id
        ):
            return None
        position = token.get("n")
        return (
            position if isinstance(position, int) and 0 <= position <= len(folder.items) else None
        )
