"""``FakeGraphServer``: a contract fake of the Microsoft identity platform's token endpoint and
of the Microsoft Graph v1.0 mail calls Tidings makes, served over HTTPS on loopback.

Written from Microsoft's documentation, for exactly these calls:

- Client credentials grant, shared secret and certificate assertion; token response and
  errors: https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow
- Certificate credentials (client_assertion JWT, ``x5t#S256``):
  https://learn.microsoft.com/en-us/entra/identity-platform/certificate-credentials
- Error codes AADSTS7000215 (invalid client secret), AADSTS700016 (unknown application),
  AADSTS90002 (tenant not found), AADSTS1002012 (scope without /.default):
  https://learn.microsoft.com/en-us/entra/identity-platform/reference-error-codes
- OpenID Connect discovery document that MSAL reads first:
  https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc
- Application permissions in the access token's ``roles`` claim:
  https://learn.microsoft.com/en-us/entra/identity-platform/access-token-claims-reference
- Tokens for EWS in Exchange Online too (scope ``https://outlook.office365.com/.default``,
  audience ``https://outlook.office365.com``, the ``full_access_as_app`` role), which
  ``FakeEwsServer`` accepts when given this fake as its ``identity``:
  https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-authenticate-an-ews-application-by-using-oauth
- Get mailFolder (well-known names), list mailFolders and childFolders with ``$filter``:
  https://learn.microsoft.com/en-us/graph/api/mailfolder-get,
  https://learn.microsoft.com/en-us/graph/api/user-list-mailfolders,
  https://learn.microsoft.com/en-us/graph/api/mailfolder-list-childfolders
- message: delta (``$select``, ``Prefer: odata.maxpagesize``, ``@odata.nextLink``,
  ``@odata.deltaLink``, ``@removed``, ``$filter=receivedDateTime ge`` on the first round):
  https://learn.microsoft.com/en-us/graph/api/message-delta,
  https://learn.microsoft.com/en-us/graph/delta-query-messages,
  https://learn.microsoft.com/en-us/graph/delta-query-overview (410 Gone when a sync state
  is no longer known: re-synchronize)
- Get message (``$select``) and update message (PATCH; ``categories`` replaced whole, an
  ``updated`` change that delta then reports and ``updated`` subscriptions hear of):
  https://learn.microsoft.com/en-us/graph/api/message-get,
  https://learn.microsoft.com/en-us/graph/api/message-update,
  https://learn.microsoft.com/en-us/graph/api/resources/message (``categories``: the
  categories associated with the message, a String collection)
- Get MIME content of a message (``/$value``):
  https://learn.microsoft.com/en-us/graph/outlook-get-mime-message
- user: sendMail in MIME format (base64 body, ``Content-Type: text/plain``, 202 Accepted,
  saved to Sent Items): https://learn.microsoft.com/en-us/graph/api/user-sendmail
- Immutable ids (``Prefer: IdType="ImmutableId"``):
  https://learn.microsoft.com/en-us/graph/outlook-immutable-id
- Error resource shape and codes: https://learn.microsoft.com/en-us/graph/errors;
  throttling (429 with ``Retry-After``): https://learn.microsoft.com/en-us/graph/throttling
- Application access policies (403 for mailboxes outside the policy):
  https://learn.microsoft.com/en-us/graph/auth-limit-mailbox-access
- Subscriptions, change and lifecycle notifications: see ``graph_fake_push.py``

Usage::

    with FakeGraphServer(tmp_path / "graph") as graph:
        app = graph.add_app(secret="s3cret")
        graph.add_mailbox("dana@northwind.example")
        graph.deliver("dana@northwind.example", raw)
        profile.options = {"authority_url": graph.authority_url, "graph_url": graph.graph_url,
                           "tenant_id": graph.tenant_id, "client_id": app.client_id,
                           "ca_file": str(graph.ca_file)}
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.contract.graph_fake_push import Subscription, notify, send_lifecycle
from tests.contract.graph_fake_store import Change, Mailbox, Message, Tokens, opaque_id
from tests.contract.https_app import https_app
from tests.servers.dovecot import issue_certificates

GRAPH_AUDIENCE = "https://graph.microsoft.com"
EXCHANGE_AUDIENCE = "https://outlook.office365.com"
ALL_MAIL_ROLES = ("Mail.ReadWrite", "Mail.Send")
#: The application permission of Office 365 Exchange Online that EWS app-only access needs.
EWS_ROLE = "full_access_as_app"


@dataclass
class FakeApp:
    """An app registration: its client id, secret or certificate, and granted roles."""

    client_id: str
    secret: str | None = field(default=None, repr=False)
    #: SHA-256 thumbprint (hex) → the certificate's public key, for client assertions.
    certificates: dict[str, object] = field(default_factory=dict)
    roles: tuple[str, ...] = ALL_MAIL_ROLES
    #: Its permissions on Office 365 Exchange Online (EWS), in tokens for that resource.
    exchange_roles: tuple[str, ...] = (EWS_ROLE,)


class FakeGraphServer:
    """The token endpoint and Graph mail API of one tenant, with a Python API for tests."""

    def __init__(self, directory: Path, *, tenant_domain: str = "northwind.example") -> None:
        self.directory = directory
        self.certificates = issue_certificates(directory / "tls")
        self.tenant_id = str(uuid.uuid4())
        self.tenant_domain = tenant_domain
        self.lock = threading.RLock()
        self.apps: dict[str, FakeApp] = {}
        self.mailboxes: dict[str, Mailbox] = {}
        self.blocked: set[str] = set()
        self.changes: list[Change] = []  # the change log of every folder
        self.seq = 0
        self.tokens = Tokens()
        self.live_tokens: set[str] = set()
        self.throttled = 0
        self.retry_after = 1
        self.requests: list[tuple[str, str]] = []
        self.subscriptions: dict[str, Subscription] = {}
        #: (subscription id, the notification URL's HTTP status) of each notification sent.
        self.notifications: list[tuple[str, int]] = []
        #: (subscription id, lifecycleEvent, the lifecycle URL's HTTP status) of each sent.
        self.lifecycle_notifications: list[tuple[str, str, int]] = []
        self._signing_key = uuid.uuid4().hex
        self.port = 0  # known once started
        self._stack = contextlib.ExitStack()

    # -- where clients point ----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def authority_url(self) -> str:
        return self.base_url

    @property
    def graph_url(self) -> str:
        return self.base_url

    @property
    def ca_file(self) -> Path:
        return self.certificates.ca_file

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeGraphServer:
        from tests.contract.graph_fake_routes import build_app

        self._stack = contextlib.ExitStack()
        base = self._stack.enter_context(https_app(build_app(self), self.certificates))
        self.port = int(base.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        self._stack.close()

    def __enter__(self) -> FakeGraphServer:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    # -- the Python API tests drive ---------------------------------------------------------

    def add_app(
        self,
        *,
        secret: str | None = None,
        certificate_pem: bytes | None = None,
        roles: Iterable[str] = ALL_MAIL_ROLES,
        client_id: str | None = None,
    ) -> FakeApp:
        """Register an app with a client secret and/or a certificate and granted roles."""
        app = FakeApp(client_id or str(uuid.uuid4()), secret, roles=tuple(roles))
        if certificate_pem is not None:
            cert = x509.load_pem_x509_certificate(certificate_pem)
            app.certificates[cert.fingerprint(hashes.SHA256()).hex()] = cert.public_key()
        with self.lock:
            self.apps[app.client_id] = app
        return app

    def set_permissions(self, client_id: str, roles: Iterable[str]) -> None:
        """Grant (with admin consent) exactly these application permissions; tokens issued
        from now on carry them."""
        with self.lock:
            self.apps[client_id].roles = tuple(roles)

    def add_mailbox(self, address: str, *, rest_enabled: bool = True) -> None:
        """A user with an Exchange Online mailbox (``rest_enabled=False``: one Graph cannot
        reach, e.g. hosted on-premises)."""
        with self.lock:
            self.mailboxes[address.lower()] = Mailbox(address.lower(), rest_enabled)

    def block_mailbox(self, address: str) -> None:
        """An application access policy that leaves this mailbox out of the app's reach."""
        with self.lock:
            self.blocked.add(address.lower())

    def create_folder(self, address: str, path: str) -> str:
        """Create the folders of ``path`` (display names joined by "/"); the last one's id."""
        with self.lock:
            return self.mailboxes[address.lower()].folder_by_path(path, create=True).id

    def deliver(
        self,
        address: str,
        raw: bytes,
        folder: str = "INBOX",
        received: datetime | None = None,
        *,
        notify_subscribers: bool = True,
    ) -> str:
        """Mail arrives in ``folder`` (created if missing); returns its immutable id.

        ``notify_subscribers=False``: Graph's change notification of it is lost (as when
        Graph throttles a slow notification URL)."""
        with self.lock:
            mailbox = self.mailboxes[address.lower()]
            target = mailbox.folder_by_path(folder, create=True)
            message = Message(opaque_id(), raw, received or _now(), target.id)
            mailbox.messages[message.immutable_id] = message
            self._log(target.id, message.immutable_id, added=True)
        if notify_subscribers:
            notify(self, mailbox.address, target.id, message.immutable_id)
        return message.immutable_id

    def move(self, address: str, message_id: str, folder: str) -> None:
        """Move a message: its default id changes, its immutable id stays."""
        with self.lock:
            mailbox = self.mailboxes[address.lower()]
            message = mailbox.message(message_id)
            assert message is not None, message_id
            target = mailbox.folder_by_path(folder, create=True)
            self._log(message.folder_id, message.immutable_id, added=False)
            message.folder_id, message.rest_id = target.id, opaque_id()
            self._log(target.id, message.immutable_id, added=True)
        notify(self, mailbox.address, target.id, message.immutable_id)

    def set_categories(self, address: str, message_id: str, categories: list[str]) -> None:
        """A person's Outlook sets a message's categories (by any of its ids, or its
        Message-ID): an update Graph reports in delta and to ``updated`` subscriptions."""
        with self.lock:
            mailbox = self.mailboxes[address.lower()]
            message = self.find(mailbox, message_id)
            message.categories = list(categories)
            self._log(message.folder_id, message.immutable_id, added=True)
        notify(self, mailbox.address, message.folder_id, message.immutable_id, "updated")

    def set_withheld(self, address: str, message_id: str, withheld: bool) -> None:
        """Make ``$value`` of a message (by any of its ids, or its Message-ID) fail, or not."""
        with self.lock:
            self.find(self.mailboxes[address.lower()], message_id).withheld = withheld

    def categories(self, address: str, message_id: str) -> list[str]:
        with self.lock:
            return list(self.find(self.mailboxes[address.lower()], message_id).categories)

    @staticmethod
    def find(mailbox: Mailbox, message_id: str) -> Message:
        """A message by its immutable id, its default id or its Message-ID."""
        found = mailbox.message(message_id) or next(
            (
                m
                for m in mailbox.messages.values()
                if m.properties()["internetMessageId"] == message_id
            ),
            None,
        )
        assert found is not None, message_id
        return found

    def delete(self, address: str, message_id: str) -> None:
        with self.lock:
            mailbox = self.mailboxes[address.lower()]
            message = mailbox.message(message_id)
            assert message is not None, message_id
            del mailbox.messages[message.immutable_id]
            self._log(message.folder_id, message.immutable_id, added=False)

    def subscription_for(self, address: str) -> Subscription:
        """The one live subscription on a mailbox's folders."""
        with self.lock:
            [subscription] = [
                s for s in self.subscriptions.values() if s.address == address.lower()
            ]
            return subscription

    def remove_subscription(self, subscription_id: str) -> None:
        """Graph removes the subscription by itself and says so (``subscriptionRemoved``)."""
        with self.lock:
            subscription = self.subscriptions.pop(subscription_id)
        send_lifecycle(self, subscription, "subscriptionRemoved")

    def require_reauthorization(self, subscription_id: str) -> None:
        """Graph asks for the subscription to be reauthorized (``reauthorizationRequired``);
        its change notifications wait until the app renews it."""
        with self.lock:
            subscription = self.subscriptions[subscription_id]
            subscription.paused = True
        send_lifecycle(self, subscription, "reauthorizationRequired")

    def report_missed(self, subscription_id: str) -> None:
        """Graph says some change notifications of the subscription were not delivered."""
        with self.lock:
            subscription = self.subscriptions[subscription_id]
        send_lifecycle(self, subscription, "missed")

    def expire_tokens(self) -> None:
        """Every access token issued so far is refused from now on (401)."""
        with self.lock:
            self.live_tokens.clear()

    def forget_delta_tokens(self) -> None:
        """Every nextLink and deltaLink handed out so far answers 410 Gone."""
        with self.lock:
            self.tokens.forget()

    def throttle(self, requests: int, retry_after: int = 1) -> None:
        """Answer the next ``requests`` Graph requests 429 with this ``Retry-After``."""
        with self.lock:
            self.throttled, self.retry_after = requests, retry_after

    def sent(self, address: str) -> list[bytes]:
        """The MIME of each message sent through sendMail from this mailbox, in order."""
        with self.lock:
            return list(self.mailboxes[address.lower()].sent)

    # -- used by the routes -----------------------------------------------------------------

    def issue_token(self, app: FakeApp, audience: str = GRAPH_AUDIENCE) -> tuple[str, int]:
        """A signed access token for Graph (or Exchange Online) carrying the app's roles on
        that resource, and its lifetime."""
        now = int(time.time())
        lifetime = 3599
        token_id = uuid.uuid4().hex
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "appid": app.client_id,
            "tid": self.tenant_id,
            "roles": list(app.exchange_roles if audience == EXCHANGE_AUDIENCE else app.roles),
            "uti": token_id,
            "ver": "1.0",
        }
        self.live_tokens.add(token_id)
        return jwt.encode(claims, self._signing_key, algorithm="HS256"), lifetime

    def verify_token(self, token: str, audience: str = GRAPH_AUDIENCE) -> dict[str, object] | None:
        """The token's claims if this fake issued it for ``audience`` and it has not expired;
        else None."""
        try:
            claims: dict[str, object] = jwt.decode(
                token, self._signing_key, algorithms=["HS256"], audience=audience
            )
        except jwt.PyJWTError:
            return None
        return claims if claims.get("uti") in self.live_tokens else None

    def knows_tenant(self, tenant: str) -> bool:
        return tenant.lower() in (self.tenant_id, self.tenant_domain.lower())

    def changes_logged(self, folder_id: str, message_id: str) -> None:
        """A message of the folder changed (an update, reported as present)."""
        self._log(folder_id, message_id, added=True)

    def _log(self, folder_id: str, message_id: str, *, added: bool) -> None:
        self.seq += 1
        self.changes.append(Change(self.seq, folder_id, message_id, added))


def _now() -> datetime:
    # Whole seconds, as Graph's receivedDateTime gives them.
    return datetime.now(UTC).replace(microsecond=0)
