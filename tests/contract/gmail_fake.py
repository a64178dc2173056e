"""``FakeGmailServer``: a contract fake of Google's token endpoint and the Gmail API v1, over
HTTPS on loopback, for exactly the calls Tidings makes.

Written from Google's documentation:

- OAuth 2.0 for server-to-server applications (service account, domain-wide delegation):
  https://developers.google.com/identity/protocols/oauth2/service-account
- OAuth 2.0 for web server applications (refresh tokens, revocation):
  https://developers.google.com/identity/protocols/oauth2/web-server
- users.getProfile: https://developers.google.com/workspace/gmail/api/reference/rest/v1/users/getProfile
- users.labels.list: https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.labels/list
- users.labels.create (409 ALREADY_EXISTS for a name taken):
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.labels/create
- users.messages.modify (addLabelIds, removeLabelIds; each change a labelAdded or
  labelRemoved history record whose message carries its labels after the change):
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/modify,
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.history/list
- users.messages.list: https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/list
- users.messages.get (format=raw, base64url): https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/get
- users.messages.send: https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/send
- users.history.list (404 for an out-of-date startHistoryId):
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.history/list
- users.watch and push notifications (a Pub/Sub topic Gmail may publish to; each message
  carries ``emailAddress`` and ``historyId``; a watch lasts 7 days):
  https://developers.google.com/workspace/gmail/api/guides/push; the Pub/Sub push
  subscriptions that deliver them, and Google's certificates that their tokens are checked
  against, are in ``gmail_fake_push.py``
- Synchronizing clients with Gmail: https://developers.google.com/workspace/gmail/api/guides/sync
- Resolve errors (401 authError, 403 insufficientPermissions and rate limits, 429
  rateLimitExceeded, 400 failedPrecondition for a user without Gmail):
  https://developers.google.com/workspace/gmail/api/guides/handle-errors
- Scopes: https://developers.google.com/workspace/gmail/api/auth/scopes

Errors have Google's JSON shape: ``{"error": {"code", "message", "errors": [{"domain",
"reason", "message"}], "status"}}``. Tests drive it through the methods below.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.parser import BytesHeaderParser
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.contract.gmail_fake_api import (
    LABEL_SCOPES,
    MODIFY_SCOPES,
    READ_SCOPES,
    SEND_SCOPES,
    GmailEndpoints,
    GmailError,
    Handler,
    Throttle,
    rate_limited,
)
from tests.contract.gmail_fake_auth import AccessToken, FakeGoogleAuth, TokenError
from tests.contract.gmail_fake_push import CERTS_MAX_AGE, FakePubSub, PushSubscription
from tests.contract.gmail_fake_state import FakeMailbox
from tests.servers.dovecot import issue_certificates
from tests.servers.ports import bound_socket

_HEADERS = BytesHeaderParser()


class _Server(uvicorn.Server):
    """uvicorn's server, telling the test thread once it listens."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = threading.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.ready.set()


class FakeGmailServer(GmailEndpoints):
    """Google's token endpoint and the Gmail API, served from ``directory`` over HTTPS."""

    def __init__(self, directory: Path) -> None:
        self.certificates = issue_certificates(directory / "tls")
        self.ca_file = self.certificates.ca_file
        self._socket = bound_socket()
        self.url = f"https://127.0.0.1:{self._socket.getsockname()[1]}"
        self.token_url = f"{self.url}/token"
        self.auth = FakeGoogleAuth(token_url=self.token_url)
        self.mailboxes: dict[str, FakeMailbox] = {}
        #: Every request, as "METHOD /path" ("POST /token <grant_type>" for tokens).
        self.requests: list[str] = []
        self._throttle = Throttle()
        #: How many requests got a rate-limit answer.
        self.throttled = 0
        #: Pub/Sub topics Gmail may publish to (the push guide's "grant publish rights").
        self.topics: set[str] = set()
        #: Mailboxes watched: address -> (topic, expiration in epoch ms).
        self.watches: dict[str, tuple[str, int]] = {}
        self._push_subscribers: list[Callable[[str, str], object]] = []
        #: Pub/Sub's push subscriptions, and Google's key that signs their tokens.
        self.pubsub = FakePubSub(self.ca_file)
        #: Where Google's certificates for those tokens are served.
        self.certs_url = f"{self.url}/oauth2/v1/certs"
        #: Lists may return fewer entries than maxResults asks for; tests lower this to page.
        self.page_limit = 500
        self._lock = threading.RLock()
        self._server = _Server(
            uvicorn.Config(
                self._app(),
                ssl_certfile=str(self.certificates.cert_file),
                ssl_keyfile=str(self.certificates.key_file),
                log_level="warning",
                lifespan="off",
            )
        )
        self._thread = threading.Thread(
            target=lambda: self._server.run(sockets=[self._socket]), daemon=True
        )

    # --- the test's API ------------------------------------------------------------------

    def add_mailbox(self, address: str, *, gmail: bool = True) -> FakeMailbox:
        """A user of the domain; ``gmail=False`` for one whose Gmail service is off."""
        with self._lock:
            mailbox = self.mailboxes.setdefault(address, FakeMailbox(address, gmail))
            self.auth.users.add(address)
        return mailbox

    def create_label(self, address: str, name: str, *, hidden: bool = False) -> str:
        """A user label, as the person makes it in Gmail; ``hidden``: not in the label list
        (labelListVisibility labelHide)."""
        with self._lock:
            label_list = "labelHide" if hidden else "labelShow"
            return self.mailboxes[address].create_label(name, label_list)

    def deliver(
        self,
        address: str,
        raw: bytes,
        labels: tuple[str, ...] = ("INBOX", "UNREAD"),
        received: datetime | None = None,
    ) -> str:
        """Put ``raw`` in the mailbox with ``labels`` (ids or user label names); its id."""
        with self._lock:
            mailbox = self.mailboxes[address]
            message_id = mailbox.add_message(raw, [mailbox.label_id(x) for x in labels], received)
        self._published(address)
        return message_id

    def delete(self, address: str, message_id: str) -> None:
        """Delete a message for good (users.messages.delete), as a person emptying the Trash."""
        with self._lock:
            self.mailboxes[address].delete_message(message_id)
        self._published(address)

    def relabel(
        self, address: str, message_id: str, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
    ) -> None:
        """Add and remove labels: a move from INBOX to a label removes one and adds the other."""
        with self._lock:
            mailbox = self.mailboxes[address]
            mailbox.change_labels(
                message_id,
                [mailbox.label_id(x) for x in add],
                [mailbox.label_id(x) for x in remove],
            )
        self._published(address)

    def set_withheld(self, address: str, message_id: str, withheld: bool) -> None:
        """Make messages.get of a message (by Gmail id or Message-ID) fail, or not."""
        with self._lock:
            mailbox = self.mailboxes[address]
            mailbox.messages[self.find(address, message_id)].withheld = withheld

    def labels_of(self, address: str, message_id: str) -> set[str]:
        """The names of a message's labels (by Gmail id or Message-ID)."""
        with self._lock:
            mailbox = self.mailboxes[address]
            return {
                mailbox.labels[x] for x in mailbox.messages[self.find(address, message_id)].labels
            }

    def find(self, address: str, message_id: str) -> str:
        """A message's Gmail id, given it or the Message-ID of its bytes."""
        with self._lock:
            mailbox = self.mailboxes[address]
            if message_id in mailbox.messages:
                return message_id
            for message in mailbox.messages.values():
                if _HEADERS.parsebytes(message.raw)["Message-ID"] == message_id:
                    return message.id
        raise KeyError(message_id)

    def create_topic(self, name: str) -> None:
        """A Pub/Sub topic on which gmail-api-push@system.gserviceaccount.com may publish."""
        with self._lock:
            self.topics.add(name)

    def push_to(self, receiver: Callable[[str, str], object]) -> None:
        """An in-process listener: ``receiver(emailAddress, historyId)`` hears every change
        of a watched mailbox, as the Pub/Sub message's data would tell it."""
        with self._lock:
            self._push_subscribers.append(receiver)

    def subscribe_push(
        self, topic: str, endpoint: str, service_account: str, audience: str = ""
    ) -> PushSubscription:
        """A Pub/Sub push subscription on ``topic``: every change of a mailbox watched on
        that topic is POSTed to ``endpoint`` with a token for ``service_account``."""
        return self.pubsub.subscribe(topic, endpoint, service_account, audience)

    def _published(self, address: str) -> None:
        with self._lock:
            if address not in self.watches:
                return
            topic = self.watches[address][0]
            history_id = str(self.mailboxes[address].history_id)
            receivers = list(self._push_subscribers)
        for receiver in receivers:
            receiver(address, history_id)
        self.pubsub.publish(topic, {"emailAddress": address, "historyId": history_id})

    def forget_history(self) -> None:
        """Make every history id handed out so far too old: history.list answers 404."""
        with self._lock:
            for mailbox in self.mailboxes.values():
                mailbox.forget_history()

    def throttle(self, requests: int, *, status: int = 429, retry_after: int = 1) -> None:
        """Answer the next ``requests`` Gmail API requests with a rate-limit error."""
        with self._lock:
            self._throttle = Throttle(requests, status, retry_after)

    def expire_tokens(self) -> None:
        """Every access token handed out so far is refused (401) from now on."""
        self.auth.expire_tokens()

    def grant_delegation(self, client_id: str, scopes: list[str]) -> None:
        """The Admin console's domain-wide delegation of ``scopes`` to ``client_id``."""
        self.auth.grant(client_id, scopes)

    def revoke_delegation(self, client_id: str) -> None:
        self.auth.revoke_delegation(client_id)

    def sent(self, address: str) -> list[bytes]:
        with self._lock:
            return list(self.mailboxes[address].sent)

    # --- serving -------------------------------------------------------------------------

    def start(self) -> FakeGmailServer:
        self._thread.start()
        assert self._server.ready.wait(30), "the Gmail fake did not start"
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._server.force_exit = True  # keep-alive connections of the clients need no grace
        self._thread.join(timeout=10)
        self._socket.close()
        self.pubsub.close()

    def __enter__(self) -> FakeGmailServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _app(self) -> Starlette:
        users = "/gmail/v1/users/{user_id}"
        routes = [
            Route("/token", self._token, methods=["POST"]),
            Route("/oauth2/v1/certs", self._certs, methods=["GET"]),
            Route(f"{users}/profile", self._api(self._profile, READ_SCOPES), methods=["GET"]),
            Route(f"{users}/labels", self._api(self._labels, READ_SCOPES), methods=["GET"]),
            Route(f"{users}/labels", self._api(self._create_label, LABEL_SCOPES), methods=["POST"]),
            Route(
                f"{users}/messages/{{message_id}}/modify",
                self._api(self._modify, MODIFY_SCOPES),
                methods=["POST"],
            ),
            Route(f"{users}/messages", self._api(self._list, READ_SCOPES), methods=["GET"]),
            Route(f"{users}/messages/send", self._api(self._send, SEND_SCOPES), methods=["POST"]),
            Route(
                f"{users}/messages/{{message_id}}",
                self._api(self._get, READ_SCOPES),
                methods=["GET"],
            ),
            Route(f"{users}/history", self._api(self._history, READ_SCOPES), methods=["GET"]),
            Route(f"{users}/watch", self._api(self._watch, READ_SCOPES), methods=["POST"]),
        ]
        return Starlette(routes=routes)

    async def _token(self, request: Request) -> Response:
        form = {key: str(value) for key, value in (await request.form()).items()}
        with self._lock:
            self.requests.append(f"POST /token {form.get('grant_type', '')}")
        try:
            return JSONResponse(self.auth.token(form))
        except TokenError as error:
            return JSONResponse(error.to_json(), status_code=error.status)

    async def _certs(self, request: Request) -> Response:
        with self._lock:
            self.requests.append("GET /oauth2/v1/certs")
        cache = f"public, max-age={CERTS_MAX_AGE}, must-revalidate, no-transform"
        return JSONResponse(self.pubsub.certs(), headers={"Cache-Control": cache})

    def _api(
        self, handler: Handler, scopes: frozenset[str]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            with self._lock:
                self.requests.append(f"{request.method} {request.url.path}")
            try:
                mailbox = self._authorize(request, scopes)
                return await handler(request, mailbox)
            except GmailError as error:
                return error.response()

        return endpoint

    def _authorize(self, request: Request, scopes: frozenset[str]) -> FakeMailbox:
        with self._lock:
            throttle = self._throttle
            if throttle.remaining > 0:
                throttle.remaining -= 1
                self.throttled += 1
                raise rate_limited(throttle)
        header = request.headers.get("authorization", "")
        token = self.auth.access(header.removeprefix("Bearer ")) if header else None
        if token is None:
            raise GmailError(401, "authError", "Invalid Credentials", "UNAUTHENTICATED")
        if not token.scopes & scopes:
            raise GmailError(
                403,
                "insufficientPermissions",
                "Request had insufficient authentication scopes.",
                "PERMISSION_DENIED",
            )
        return self._mailbox_of(token, request.path_params["user_id"])

    def _mailbox_of(self, token: AccessToken, user_id: str) -> FakeMailbox:
        if token.subject is None:
            # A service account acting as itself has no mailbox (no delegation subject).
            raise GmailError(
                400, "failedPrecondition", "Precondition check failed.", "FAILED_PRECONDITION"
            )
        if user_id not in ("me", token.subject):
            raise GmailError(
                403, "forbidden", f"Delegation denied for {token.subject}", "PERMISSION_DENIED"
            )
        with self._lock:
            mailbox = self.mailboxes[token.subject]
        if not mailbox.gmail_enabled:
            raise GmailError(
                400, "failedPrecondition", "Mail service not enabled", "FAILED_PRECONDITION"
            )
        return mailbox
