"""A receiving SMTP server for tests: aiosmtpd in a thread, on a free loopback port.

It accepts every message and keeps its envelope; tests then look at what arrived::

    with SmtpServer({"dana@northwind.example": "dana-pass"}) as smtp:
        with smtplib.SMTP(smtp.host, smtp.port) as client:
            client.login("dana@northwind.example", "dana-pass")   # AUTH PLAIN or LOGIN
            client.sendmail("dana@northwind.example", ["maria@contoso.example"], raw)
        [message] = smtp.wait_for(1, timeout=5)
        assert message.content == raw and message.login == "dana@northwind.example"

- ``users`` (address -> password) are checked by AUTH PLAIN and AUTH LOGIN; a wrong password
  gets ``535 5.7.8 Authentication credentials invalid``. AUTH is offered without TLS (the
  server is on loopback) and not required: ``ReceivedMessage.login`` tells whether and as whom
  the client authenticated.
- ``tls_context`` (a server-side context, e.g. ``issue_certificates(dir).server_context()``)
  turns STARTTLS on; clients verify against that CA file (``ca_file``, when given).
- ``bearer_owner`` (a function from an access token to its owner's address, None when not
  active, e.g. ``OAuthServer.address_for``) adds AUTH XOAUTH2: a token accepted for the
  ``user=`` it names signs in as that address; any other gets Google's error challenge
  (``334`` + base64 JSON), then ``535`` once the client answers it.
- ``smtputf8`` offers SMTPUTF8 (RFC 6531): internationalized addresses in the envelope.
- ``messages`` is a snapshot of what arrived, oldest first; ``wait_for(count, timeout)``
  blocks on a condition until that many have arrived, and raises TimeoutError otherwise.
"""

from __future__ import annotations

import asyncio
import base64
import smtplib
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.ports import bound_socket


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted transaction: the envelope and the bytes of DATA as received."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    login: str | None
    """The AUTH identity of the session, None when the client did not authenticate."""
    tls: bool
    """Whether the session had switched to TLS (STARTTLS) before DATA."""
    mail_options: tuple[str, ...] = ()
    """The MAIL FROM parameters (``SMTPUTF8`` …)."""


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self._server = server

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address.lower() in self._server.unknown_recipients:
            return "550 5.1.1 no such user"
        if address.lower() in self._server.deferred_recipients:
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else None
        content = envelope.original_content or b""
        message = ReceivedMessage(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=content,
            login=login,
            tls=session.ssl is not None,
            mail_options=tuple(envelope.mail_options),
        )
        hook = self._server.before_accept
        if hook is not None:
            hook(message)  # runs before the client hears 250: tests freeze the sender here
        self._server._record(message)
        return "250 2.0.0 Message accepted"


class _XOAuth2Handler(_Handler):
    """The handler with AUTH XOAUTH2 (aiosmtpd offers every ``auth_<NAME>`` it finds)."""

    def __init__(self, server: SmtpServer, bearer_owner: Callable[[str], str | None]) -> None:
        super().__init__(server)
        self._bearer_owner = bearer_owner

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        # https://developers.google.com/gmail/imap/xoauth2-protocol#smtp_protocol_exchange
        blob = args[1] if len(args) > 1 else await server.challenge_auth("")
        if not isinstance(blob, str | bytes):
            return AuthResult(success=False, handled=False)
        try:
            fields = base64.b64decode(blob, validate=True).decode().split("\x01")
        except ValueError:
            fields = []
        values = dict(f.split("=", 1) for f in fields if "=" in f)
        address, bearer = values.get("user", ""), values.get("auth", "")
        token = bearer.removeprefix("Bearer ")
        if address and self._bearer_owner(token) == address:
            return AuthResult(success=True, auth_data=LoginPassword(address.encode(), b""))
        error = '{"status":"401","schemes":"Bearer","scope":"https://mail.google.com/"}'
        await server.challenge_auth(error)  # the client answers with an empty line
        return AuthResult(success=False, handled=False)


class _HeldPortController(Controller):
    """aiosmtpd's controller listening on a socket bound beforehand, so that its port was
    this server's from the moment it was chosen (aiosmtpd would bind only on start)."""

    def __init__(self, handler: Any, listener: Callable[[], socket.socket], **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._listener = listener

    def _create_server(self) -> Awaitable[asyncio.AbstractServer]:
        return self.loop.create_server(
            self._factory_invoker, sock=self._listener(), ssl=self.ssl_context
        )


class SmtpServer:
    host = "127.0.0.1"

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        tls_context: ssl.SSLContext | None = None,
        ca_file: Path | None = None,
        bearer_owner: Callable[[str], str | None] | None = None,
        smtputf8: bool = False,
    ) -> None:
        self.users = dict(users or {})
        self.ca_file = ca_file
        self._held: socket.socket | None = bound_socket(self.host)
        self.port: int = self._held.getsockname()[1]
        self._messages: list[ReceivedMessage] = []
        self._arrived = threading.Condition()
        handler = _Handler(self) if bearer_owner is None else _XOAuth2Handler(self, bearer_owner)
        self._controller = _HeldPortController(
            handler,
            self._take_listener,
            hostname=self.host,
            port=self.port,
            server_hostname="localhost",  # not socket.getfqdn(), which may wait on DNS
            authenticator=self._authenticate,
            auth_require_tls=False,
            tls_context=tls_context,
            enable_SMTPUTF8=smtputf8,
        )
        self._running = False
        #: Called with each message just before it is accepted (250 sent), if set.
        self.before_accept: Callable[[ReceivedMessage], None] | None = None
        #: Recipients refused at RCPT TO with 550, as a server refuses an unknown user.
        self.unknown_recipients: set[str] = set()
        #: Recipients answered 451 (try again later) at RCPT TO.
        self.deferred_recipients: set[str] = set()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if not self._running:
            self._controller.start()
            self._running = True

    def stop(self) -> None:
        if self._running:
            self._controller.stop()
            self._running = False
        if self._held is not None:  # never started
            self._held.close()
            self._held = None

    def _take_listener(self) -> socket.socket:
        """The socket bound when the server was made; the server closes it when it stops,
        so a restart binds the same port again (its clients know it)."""
        held, self._held = self._held, None
        if held is not None:
            return held
        again = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind((self.host, self.port))
        return again

    def __enter__(self) -> SmtpServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- what arrived -------------------------------------------------------------------------

    @property
    def messages(self) -> list[ReceivedMessage]:
        with self._arrived:
            return list(self._messages)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedMessage]:
        """Block until at least ``count`` messages arrived; return them all."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(
                    f"{len(self._messages)} message(s) arrived within {timeout}s, not {count}"
                )
            return list(self._messages)

    def clear(self) -> None:
        with self._arrived:
            self._messages.clear()

    def client(self, timeout: float = 10.0) -> smtplib.SMTP:
        """A connected stdlib client (EHLO done on first command), for quick checks."""
        return smtplib.SMTP(self.host, self.port, timeout=timeout)

    # -- internals ----------------------------------------------------------------------------

    def _record(self, message: ReceivedMessage) -> None:
        with self._arrived:
            self._messages.append(message)
            self._arrived.notify_all()

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if mechanism not in ("PLAIN", "LOGIN") or not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode(errors="replace")
        expected = self.users.get(login)
        if expected is None or data.password.decode(errors="replace") != expected:
            # handled=False: aiosmtpd answers "535 5.7.8 Authentication credentials invalid".
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=data)
