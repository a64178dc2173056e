"""Opening an IMAP connection as a profile says: implicit TLS, STARTTLS or (allowed) plain.

Certificates are verified with the profile's settings (``adapters.tls``). STARTTLS is
required when the profile asks for it: a server that does not offer it is a permanent
failure, never a reason to carry on unencrypted (RFC 8314 §4.1, RFC 3501 §6.2.1).
"""

from __future__ import annotations

import asyncio
import ssl

from aioimaplib import aioimaplib
from typing_extensions import override

from tidings.adapters.oauth.xoauth2 import encoded_response
from tidings.adapters.tls import tls_context
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile

IMAP_PORTS = {ConnectionSecurity.TLS: 993, ConnectionSecurity.STARTTLS: 143}


class ConnectionLost:
    """Done when the socket closes: a future that any wait can include as it is, where an
    ``asyncio.Event`` needs a task of its own per wait (a thousand idle folders, each
    woken by every keepalive of its server)."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def set(self) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def is_set(self) -> bool:
        return self.closed.done()


async def connect(profile: ServerProfile) -> tuple[aioimaplib.IMAP4, ConnectionLost]:
    """A client past the greeting (and STARTTLS), and what is done when the socket closes."""
    security, host = profile.incoming_security, profile.incoming_server
    port = profile.incoming_port or IMAP_PORTS.get(security, 143)
    timeout = float(profile.connection_timeout_seconds)
    lost = ConnectionLost()
    try:
        client = aioimaplib.IMAP4(
            host=host,
            port=port,
            timeout=timeout,
            conn_lost_cb=lambda _error: lost.set(),
            ssl_context=tls_context(profile) if security is ConnectionSecurity.TLS else None,
        )
        await client.wait_hello_from_server()
        if security is ConnectionSecurity.STARTTLS:
            try:
                await asyncio.wait_for(_start_tls(client, profile, f"{host}:{port}"), timeout)
            except BaseException:
                client.protocol.transport.close()
                raise
    except ssl.SSLCertVerificationError as error:
        raise MailServerError(
            f"certificate not trusted for host {host}: {error.verify_message}", permanent=True
        ) from error
    except (OSError, TimeoutError, aioimaplib.AioImapException) as error:
        raise MailServerError(
            f"cannot connect to {host}:{port}: {error}", permanent=False
        ) from error
    return client, lost


async def _start_tls(client: aioimaplib.IMAP4, profile: ServerProfile, where: str) -> None:
    protocol = client.protocol
    if "STARTTLS" not in protocol.capabilities:
        raise MailServerError(no_starttls(client.host, client.port), permanent=True)
    command = aioimaplib.Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    response = await protocol.execute(command)
    if response.result != "OK":
        raise MailServerError(
            f"the server at {where} refused STARTTLS: {response.lines}", permanent=True
        )
    # aioimaplib has no STARTTLS of its own: the same protocol object goes on reading, now
    # through a TLS transport laid over the socket.
    loop = asyncio.get_running_loop()
    transport = await loop.start_tls(
        protocol.transport, protocol, tls_context(profile), server_hostname=profile.incoming_server
    )
    if transport is None:
        raise MailServerError(f"the connection to {where} closed during STARTTLS", permanent=False)
    protocol.transport = transport
    # Capabilities seen before TLS may have been forged: ask again (RFC 3501 §6.2.1).
    await protocol.capability()


def no_starttls(host: str, port: int) -> str:
    """What to tell an admin whose server does not offer the STARTTLS the profile requires."""
    return (
        f"the server at {host}:{port} does not offer STARTTLS: enable it on the server or use "
        "implicit TLS; Tidings never falls back to an unencrypted connection"
    )


async def authenticate_xoauth2(client: aioimaplib.IMAP4, address: str, token: str) -> bool:
    """``AUTHENTICATE XOAUTH2``; True when the server accepted the token.

    With SASL-IR (RFC 4959) the initial response goes with the command, as Gmail, Outlook
    and Dovecot allow; otherwise after the server's first ``+``. A refused token gets a ``+``
    carrying the server's error: the empty answer to it brings the tagged NO.
    """
    protocol = client.protocol
    response = encoded_response(address, token)
    command = _SaslCommand(protocol, "XOAUTH2", response)
    result = await asyncio.wait_for(protocol.execute(command, scrub=response), client.timeout)
    if result.result != "OK":
        return False
    async with protocol.state_condition:
        protocol.state = aioimaplib.AUTH
        protocol.state_condition.notify_all()
    for line in result.lines:
        # The tagged OK may list the capabilities of the signed-in state (RFC 3501 §7.1).
        if b"CAPABILITY" in line:
            words = line.decode(errors="replace").split("CAPABILITY", 1)[1]
            protocol.capabilities |= set(words.strip(" ]").split())
    return True


class _SaslCommand(aioimaplib.Command):  # type: ignore[misc]  # untyped library
    """AUTHENTICATE answering the server's continuation requests itself (RFC 3501 §6.2.2)."""

    def __init__(
        self, protocol: aioimaplib.IMAP4ClientProtocol, mechanism: str, reply: str
    ) -> None:
        initial = "SASL-IR" in protocol.capabilities
        arguments = (mechanism, reply) if initial else (mechanism,)
        super().__init__("AUTHENTICATE", protocol.new_tag(), *arguments, loop=protocol.loop)
        self._protocol = protocol
        self._pending = "" if initial else reply

    @override
    def flush(self) -> None:
        # aioimaplib calls this for each "+" line it hands to the pending command.
        reply, self._pending = self._pending, ""
        self._protocol.send(reply, scrub=reply or None)
