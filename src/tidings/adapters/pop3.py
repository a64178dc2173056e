"""POP3 for sync: list UIDLs, retrieve messages (stdlib poplib, in a worker thread).

POP3 has neither folders nor push; a mailbox is polled, and UIDL (RFC 1939 §7) names each
message for good, so the raw store's origins are the set of messages already seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import poplib
import ssl

from tidings.adapters.tls import tls_context
from tidings.domain.credentials import Credential
from tidings.domain.error_text import first_line
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile

_POP3_PORTS = {ConnectionSecurity.TLS: 995, ConnectionSecurity.STARTTLS: 110}


class Pop3Mailbox:
    """One logged-in POP3 session."""

    def __init__(self, client: poplib.POP3) -> None:
        self._client = client
        #: The server's answer when it last refused a message (``retrieve`` gave None).
        self.refusal: str | None = None

    @classmethod
    async def open(cls, profile: ServerProfile, credential: Credential) -> Pop3Mailbox:
        return cls(await asyncio.to_thread(connect_pop3, profile, credential))

    async def uidls(self) -> list[tuple[int, str]]:
        """(message number, unique id) of every message, in server order."""
        _, lines, _ = await self._run(self._client.uidl)
        listing = []
        for line in lines:
            number, _, uidl = line.decode("ascii", "replace").partition(" ")
            if number.isdigit() and uidl:
                listing.append((int(number), uidl.strip()))
        return listing

    async def sizes(self) -> dict[int, int]:
        """The size in bytes of each message, by its number (LIST, RFC 1939 §5)."""
        _, lines, _ = await self._run(self._client.list)
        found = {}
        for line in lines:
            number, _, size = line.decode("ascii", "replace").partition(" ")
            if number.isdigit() and size.strip().isdigit():
                found[int(number)] = int(size.strip())
        return found

    async def retrieve(self, number: int) -> bytes | None:
        """The message's bytes; None when the server answered ``-ERR`` for it (expunged
        meanwhile, or one it cannot read: Dovecot then says "Message 2 expunged"), its
        answer then in ``refusal``. The session goes on either way."""
        try:
            _, lines, _ = await asyncio.to_thread(self._client.retr, number)
        except poplib.error_proto as error:
            answer = error.args[0] if error.args else b""
            if not (isinstance(answer, bytes) and answer.startswith(b"-ERR")):
                raise MailServerError(
                    f"the POP3 session failed: {error}", permanent=False
                ) from error
            self.refusal = first_line(answer.decode("utf-8", "replace"))
            return None
        except OSError as error:
            raise MailServerError(f"the POP3 session failed: {error}", permanent=False) from error
        return b"\r\n".join(lines) + b"\r\n"

    async def close(self) -> None:
        with contextlib.suppress(poplib.error_proto, OSError):
            await asyncio.to_thread(self._client.quit)

    async def _run(self, method: object, *args: object) -> tuple[bytes, list[bytes], int]:
        try:
            return await asyncio.to_thread(method, *args)  # type: ignore[arg-type]
        except (poplib.error_proto, OSError) as error:
            raise MailServerError(f"the POP3 session failed: {error}", permanent=False) from error


def connect_pop3(profile: ServerProfile, credential: Credential) -> poplib.POP3:
    """A logged-in POP3 client, or a ``MailServerError`` saying what went wrong."""
    security, host = profile.incoming_security, profile.incoming_server
    port = profile.incoming_port or _POP3_PORTS.get(security, 110)
    timeout = profile.connection_timeout_seconds
    try:
        if security is ConnectionSecurity.TLS:
            client: poplib.POP3 = poplib.POP3_SSL(
                host, port, timeout=timeout, context=tls_context(profile)
            )
        else:
            client = poplib.POP3(host, port, timeout=timeout)
            if security is ConnectionSecurity.STARTTLS:
                _require_stls(client, host, port)
                client.stls(context=tls_context(profile))
    except ssl.SSLCertVerificationError as error:
        raise MailServerError(
            f"certificate not trusted for host {host}: {error.verify_message}", permanent=True
        ) from error
    except (poplib.error_proto, OSError) as error:
        raise MailServerError(
            f"cannot connect to {host}:{port}: {error}", permanent=False
        ) from error
    try:
        client.user(credential.username)
        client.pass_(credential.password)
    except poplib.error_proto as error:
        with contextlib.suppress(poplib.error_proto, OSError):
            client.quit()
        raise MailServerError(
            "authentication failed: check the user name and password on the mailbox",
            permanent=True,
        ) from error
    return client


def _require_stls(client: poplib.POP3, host: str, port: int) -> None:
    """POP3's STARTTLS (RFC 2595 §4) is required when asked for: never carry on in plain."""
    try:
        offered = "STLS" in client.capa()
    except poplib.error_proto:
        offered = False
    if not offered:
        with contextlib.suppress(poplib.error_proto, OSError):
            client.quit()
        raise MailServerError(
            f"the server at {host}:{port} does not offer STARTTLS (STLS): enable it on the "
            "server or use implicit TLS; Tidings never falls back to an unencrypted connection",
            permanent=True,
        )
