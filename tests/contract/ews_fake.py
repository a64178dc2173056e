"""``FakeEwsServer``: a contract fake of Exchange Web Services for exactly what Tidings' EWS
adapter asks through exchangelib, served over HTTPS on a free loopback port.

Written from Microsoft's EWS reference:

- SyncFolderItems (SyncState, MaxChangesReturned, IncludesLastItemInRange, Changes/Create,
  Changes/Update and Changes/Delete, AdditionalProperties item:Categories):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/syncfolderitems-operation
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/changes-items
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/delete-ews-sync
- A move gives the item a new ItemId in its new folder (MoveItem returns it):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/moveitem-operation;
  a delete or a move out is a Delete in the old folder's changes, a DeletedEvent or MovedEvent
  to its subscribers:
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/movedevent
- UpdateItem (SetItemField / DeleteItemField of item:Categories, ConflictResolution,
  ConflictResults): https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/updateitem-operation
  and Categories (ArrayOfStringsType):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/categories-ex15websvcsotherref
- GetItem (ItemShape, IncludeMimeContent, MimeContent in base64):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getitem-operation-email-message
- CreateItem with MessageDisposition="SendAndSaveCopy" and MimeContent:
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createitem-operation-email-message
- GetFolder (DistinguishedFolderId root, msgfolderroot, inbox, sentitems):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/getfolder-operation
- FindFolder (Shallow and Deep traversal, an IsEqualTo restriction on folder:DisplayName,
  IndexedPageFolderView paging):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/findfolder-operation
  with an ExtendedFieldURI among the FolderShape's AdditionalProperties (PR_ATTR_HIDDEN,
  PropertyTag 0x10f4, PropertyType Boolean), returned as ExtendedProperty only when asked
  and only where set:
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/extendedfielduri
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/extendedproperty
  https://learn.microsoft.com/en-us/office/client-developer/outlook/mapi/pidtagattributehidden-canonical-property
- ExchangeImpersonation (ConnectingSID/PrimarySmtpAddress; the ApplicationImpersonation role):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/exchangeimpersonation
  https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/impersonation-and-ews-in-exchange
- ResponseCode values (ErrorImpersonateUserDenied, ErrorNonExistentMailbox,
  ErrorInvalidSyncStateData, ErrorItemNotFound, ErrorFolderNotFound, ErrorServerBusy):
  https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/responsecode
- Throttling: ErrorServerBusy as a SOAP fault whose MessageXml carries BackOffMilliseconds:
  https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange
- Streaming notifications (Subscribe, GetStreamingEvents): see ``ews_notifications``.
- OAuth, app-only (Exchange Online's EWS): a Bearer token for the resource
  ``https://outlook.office365.com`` with the ``full_access_as_app`` role, ExchangeImpersonation
  required with it:
  https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-authenticate-an-ews-application-by-using-oauth

The operations are in ``ews_operations``, the mailboxes they act on in ``ews_store``, the
SOAP envelopes in ``ews_soap``. Authentication is HTTP Basic: 401 for a wrong user name or
password; or, given an ``identity`` (a ``FakeGraphServer``, whose token endpoint stands for
Microsoft Entra ID), a Bearer token that fake issued: 401 with ``error="invalid_token"`` when
it is expired, revoked (``identity.expire_tokens()``) or for another resource, and 401 with
``x-ms-diagnostics`` 2000008 when it carries no ``full_access_as_app`` role. A service account may
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

    with FakeGraphServer(tmp_path / "entra") as entra, FakeEwsServer(tmp_path / "ews",
                                                                     identity=entra) as ews:
        app = entra.add_app(secret="s3cret")   # tokens for the app may impersonate anyone
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request as HttpRequest
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.contract import ews_soap as soap
from tests.contract.ews_notifications import Subscriptions
from tests.contract.ews_operations import HANDLERS, Stream
from tests.contract.ews_soap import EwsFault
from tests.contract.ews_store import Item, Mailbox, Store
from tests.contract.graph_fake import EWS_ROLE, EXCHANGE_AUDIENCE, FakeGraphServer
from tests.servers.dovecot import issue_certificates
from tests.servers.ports import bound_socket

PATH = "/EWS/Exchange.asmx"
#: How requests made with an app's Bearer token are recorded as the user.
APP_PREFIX = "app:"


_HEADERS = BytesHeaderParser()


class FakeEwsServer:
    """An Exchange Server's EWS endpoint for tests, with a Python API to set it up."""

    def __init__(
        self,
        directory: Path,
        minute_seconds: float = 60.0,
        identity: FakeGraphServer | None = None,
    ) -> None:
        self._identity = identity
        # With an identity, one test CA (the identity's) signs both: a profile names one.
        self.certificates = (
            identity.certificates if identity else issue_certificates(directory / "tls")
        )
        self.ca_file = self.certificates.ca_file
        self._lock = threading.Lock()
        self._requested = threading.Condition(self._lock)
        self._service: tuple[str, str, bool] | None = None
        self._busy: list[int] = []
        self.subscriptions = Subscriptions(self._lock)
        self.subscriptions.minute_seconds = minute_seconds
        self._store = Store(self.subscriptions)
        self._mailboxes = self._store.mailboxes
        #: How many requests were answered with ErrorServerBusy.
        self.busy_answers = 0
        #: (operation, mailbox address) of every authenticated request, in order.
        self.requests: list[tuple[str, str]] = []
        self._socket = bound_socket()
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
            self._store.add_mailbox(address, password)

    def create_folder(self, address: str, path: str, folder_class: str | None = None) -> None:
        """Folders by display name under the message folder root, parents made as needed;
        the last one of ``folder_class`` (folder:FolderClass; mail, "IPF.Note", if None)."""
        with self._lock:
            mailbox = self._mailboxes[address.lower()]
            parent = mailbox.distinguished["msgfolderroot"]
            names = path.split("/")
            for depth, name in enumerate(names, 1):
                found = mailbox.child(parent, name)
                kind = folder_class if depth == len(names) else None
                parent = (found or self._store.add_folder(mailbox, parent, name, kind)).id

    def set_hidden(self, address: str, path: str, hidden: bool) -> None:
        """Set PR_ATTR_HIDDEN on the folder at ``path`` (as Exchange does on its own folders,
        and clients on theirs)."""
        with self._lock:
            self._mailboxes[address.lower()].folder_by_path(path).hidden = hidden

    def add_folder_named(self, address: str, parent_path: str, name: str) -> None:
        """A folder whose display name may hold "/" (Outlook allows it), under
        ``parent_path`` ("" for the message folder root)."""
        with self._lock:
            mailbox = self._mailboxes[address.lower()]
            parent = (
                mailbox.folder_by_path(parent_path).id
                if parent_path
                else mailbox.distinguished["msgfolderroot"]
            )
            self._store.add_folder(mailbox, parent, name)

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
            target = mailbox.folder_by_path(folder)
            return self._store.store(mailbox, target, raw, received_at or datetime.now(UTC))

    def set_categories(self, address: str, message_id: str, categories: list[str]) -> None:
        """A person's Outlook sets an item's categories (by ItemId or Message-ID)."""
        with self._lock:
            mailbox = self._store.mailboxes[address.lower()]
            self._store.set_categories(mailbox, self.find(address, message_id), categories)

    def move(self, address: str, message_id: str, folder: str) -> str:
        """A person moves an item (by ItemId or Message-ID) to ``folder``; its new ItemId."""
        with self._lock:
            mailbox = self._store.mailboxes[address.lower()]
            target = mailbox.folder_by_path(folder)
            return self._store.move(mailbox, self.find(address, message_id), target)

    def delete(self, address: str, message_id: str) -> None:
        """A person deletes an item for good (a hard delete: no Deleted Items copy)."""
        with self._lock:
            mailbox = self._store.mailboxes[address.lower()]
            self._store.delete(mailbox, self.find(address, message_id))

    def set_unconvertible(self, address: str, message_id: str, unconvertible: bool) -> None:
        """Exchange can (or can no longer) make the item's MIME content."""
        with self._lock:
            self.find(address, message_id).unconvertible = unconvertible

    def categories(self, address: str, message_id: str) -> list[str]:
        with self._lock:
            return list(self.find(address, message_id).categories)

    def find(self, address: str, message_id: str) -> Item:
        """An item of the mailbox by ItemId, or by the Message-ID of its MIME content."""
        mailbox = self._store.mailboxes[address.lower()]
        for item in self._store.items.values():
            if item.folder_id not in mailbox.folders:
                continue
            if item.id == message_id or _HEADERS.parsebytes(item.raw)["Message-ID"] == message_id:
                return item
        raise KeyError(message_id)

    def forget_sync_states(self) -> None:
        """Every sync state handed out so far becomes invalid (ErrorInvalidSyncStateData)."""
        with self._lock:
            self._store.epoch += 1

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
        header = http.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            user = self._authenticate_app(header[len("bearer ") :])
            if isinstance(user, Response):
                return user
        else:
            user = self._authenticate(header)
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
        if isinstance(answer, Stream):
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

    def _authenticate_app(self, token: str) -> str | Response:
        """The app a valid Bearer token was issued to, as ``app:<client id>``."""
        claims = None
        if self._identity is not None:
            claims = self._identity.verify_token(token, EXCHANGE_AUDIENCE)
        if claims is None:
            challenge = 'Bearer client_id="00000002-0000-0ff1-ce00-000000000000", '
            challenge += 'error="invalid_token"'
            return Response(status_code=401, headers={"WWW-Authenticate": challenge})
        if EWS_ROLE not in (claims.get("roles") or []):  # type: ignore[operator]
            reason = '2000008;reason="The token contains no permissions, or permissions can '
            reason += 'not be understood.";error_category="invalid_grant"'
            return Response(status_code=401, headers={"x-ms-diagnostics": reason})
        return f"{APP_PREFIX}{claims.get('appid')}"

    def _dispatch(self, user: str, request: soap.Request) -> str | Stream:
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
        handler = HANDLERS.get(request.name)
        if handler is None:
            raise EwsFault("ErrorInvalidRequest", f"{request.name} is not offered by this fake")
        return handler(self._store, mailbox, request.operation)

    def _target(self, user: str, impersonated: str | None) -> Mailbox:
        if user.startswith(APP_PREFIX):
            # An app-only token names no mailbox: it must impersonate one (full_access_as_app
            # lets it impersonate any; application access policies are not modelled).
            if impersonated is None:
                raise EwsFault(
                    "ErrorInvalidExchangeImpersonationHeaderData",
                    "ExchangeImpersonation SOAP header must be present for this type of "
                    "OAuth token.",
                )
            address = impersonated
        elif impersonated is not None:
            service = self._service is not None and user == self._service[0]
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
