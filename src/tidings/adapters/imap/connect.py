"""Opening an IMAP connection as a profile says: implicit TLS, STARTTLS or (allowed) plain.

Certificates are verified with the profile's settings (``adapters.tls``). STARTTLS is
required when the profile asks for it: a server that does not offer it is a permanent
failure, never a reason to carry on unencrypted (RFC 8314 §4.1, RFC 3501 §6.2.1).
"""

from __future__ import annotations

import asyncio
import ssl

from aioimaplib import aioimaplib

from tidings.adapters.tls import tls_context
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile

IMAP_PORTS = {ConnectionSecurity.TLS: 993, ConnectionSecurity.STARTTLS: 143}


async def connect(profile: ServerProfile) -> tuple[aioimaplib.IMAP4, asyncio.Event]:
    """A client past the greeting (and STARTTLS), and the event set when the socket closes."""
    security, host = profile.incoming_security, profile.incoming_host
    port = profile.incoming_port or IMAP_PORTS.get(security, 143)
    timeout = float(profile.connection_timeout_seconds)
    lost = asyncio.Event()
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
        protocol.transport, protocol, tls_context(profile), server_hostname=profile.incoming_host
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
