"""Test & Enable's connection checks against IMAP, POP3 and SMTP servers.

Each check logs in exactly as sync will (security, certificate verification, credentials,
XOAUTH2 under OAuth), and translates what went wrong into words an admin can act on. Incoming
checks use the standard library's imaplib and poplib in a worker thread: one login and one
SELECT need no event loop of their own. Outgoing checks use aiosmtplib. Under OAuth the checks
always ask for a fresh access token: that proves the mailbox's refresh token still works.
"""

from __future__ import annotations

import asyncio
import contextlib
import imaplib
import poplib
import socket
import ssl

import aiosmtplib

from tidings.adapters.imap.connect import no_starttls
from tidings.adapters.oauth.tokens import XOAUTH2_REFUSED, OAuthTokens
from tidings.adapters.oauth.xoauth2 import initial_response
from tidings.adapters.pop3 import connect_pop3
from tidings.adapters.tls import tls_context
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import (
    ConnectionSecurity,
    CredentialSource,
    ServerProfile,
    ServerProfileKind,
)
from tidings.domain.testing import ConnectionCheck

_IMAP_PORTS = {ConnectionSecurity.TLS: 993, ConnectionSecurity.STARTTLS: 143}
_SMTP_PORTS = {ConnectionSecurity.TLS: 465, ConnectionSecurity.STARTTLS: 587}


def smtp_client(profile: ServerProfile) -> aiosmtplib.SMTP:
    """An unconnected client for the profile's outgoing server, as every SMTP use needs it."""
    security = profile.outgoing_security
    return aiosmtplib.SMTP(
        hostname=profile.outgoing_server,
        port=profile.outgoing_port or _SMTP_PORTS.get(security, 25),
        timeout=profile.connection_timeout_seconds,
        use_tls=security is ConnectionSecurity.TLS,
        start_tls=security is ConnectionSecurity.STARTTLS,
        tls_context=tls_context(profile) if security is not ConnectionSecurity.NONE else None,
    )


async def smtp_login(
    client: aiosmtplib.SMTP,
    profile: ServerProfile,
    credential: Credential,
    tokens: OAuthTokens,
    *,
    fresh: bool = False,
) -> None:
    """AUTH with a password, or XOAUTH2 under OAuth; ``SMTPAuthenticationError`` if refused.

    Token trouble leaves as the token module's ``MailServerError``.
    """
    if profile.credential_source is not CredentialSource.OAUTH:
        await client.login(credential.username, credential.password)
        return

    async def attempt(token: str) -> bool:
        try:
            await client.auth_xoauth2(credential.username, token)
        except aiosmtplib.SMTPAuthenticationError:
            return False
        return True

    if not await tokens.sign_in(profile, credential, attempt, fresh=fresh):
        raise aiosmtplib.SMTPAuthenticationError(535, XOAUTH2_REFUSED)


def smtp_auth_failure(profile: ServerProfile) -> str:
    """What to tell an admin whose outgoing server refused the credentials."""
    if profile.credential_source is CredentialSource.OAUTH:
        return f"outgoing: {XOAUTH2_REFUSED}"
    return "outgoing: authentication failed: check the user name and password"


class MailServerTester:
    """Checks incoming (IMAP or POP3) and outgoing (SMTP) servers of a profile."""

    def __init__(self, tokens: OAuthTokens | None = None) -> None:
        self._tokens = tokens or OAuthTokens()

    async def check_incoming(
        self, profile: ServerProfile, credential: Credential | None, address: str = ""
    ) -> ConnectionCheck:
        if profile.kind not in (ServerProfileKind.IMAP_SMTP, ServerProfileKind.POP3_SMTP):
            return ConnectionCheck.failed(f"{profile.kind} profiles cannot be tested yet", True)
        oauth = profile.credential_source is CredentialSource.OAUTH
        if credential is None:
            secret = "refresh token" if oauth else "password"
            return ConnectionCheck.failed(
                f"no credentials: enter the mailbox's user name and {secret}", True
            )
        token = None
        if oauth:
            try:
                token = await self._tokens.access_token(profile, credential, fresh=True)
            except MailServerError as error:
                return ConnectionCheck.failed(f"incoming: {error}", error.permanent)
        if profile.kind is ServerProfileKind.POP3_SMTP:
            return await asyncio.to_thread(_check_pop3, profile, credential)
        return await asyncio.to_thread(_check_imap, profile, credential, token)

    async def check_outgoing(
        self, profile: ServerProfile, credential: Credential | None, address: str = ""
    ) -> ConnectionCheck:
        if profile.kind not in (ServerProfileKind.IMAP_SMTP, ServerProfileKind.POP3_SMTP):
            return ConnectionCheck.failed(f"{profile.kind} profiles cannot be tested yet", True)
        try:
            client = smtp_client(profile)
        except MailServerError as error:
            return ConnectionCheck.failed(f"outgoing: {error}", error.permanent)
        host, port = client.hostname or "", client.port or 0
        try:
            await client.connect()
            if credential is not None:
                await smtp_login(client, profile, credential, self._tokens, fresh=True)
            await client.quit()
        except aiosmtplib.SMTPAuthenticationError:
            return ConnectionCheck.failed(smtp_auth_failure(profile), True)
        except MailServerError as error:
            client.close()
            return ConnectionCheck.failed(f"outgoing: {error}", error.permanent)
        except (aiosmtplib.SMTPException, OSError) as error:
            return _connection_failure("outgoing", host, port, error)
        return ConnectionCheck.passed(f"outgoing: signed in to {host}:{port}")


def _check_imap(
    profile: ServerProfile, credential: Credential, token: str | None
) -> ConnectionCheck:
    """``token``: the OAuth access token to sign in with (XOAUTH2), None for a password."""
    security = profile.incoming_security
    try:
        host = profile.incoming_server
    except MailServerError as error:
        return ConnectionCheck.failed(f"incoming: {error}", error.permanent)
    port = profile.incoming_port or _IMAP_PORTS.get(security, 143)
    timeout = profile.connection_timeout_seconds
    try:
        if security is ConnectionSecurity.TLS:
            client: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                host, port, ssl_context=tls_context(profile), timeout=timeout
            )
        else:
            client = imaplib.IMAP4(host, port, timeout=timeout)
            if security is ConnectionSecurity.STARTTLS:
                if "STARTTLS" not in client.capabilities:
                    client.shutdown()
                    return ConnectionCheck.failed(f"incoming: {no_starttls(host, port)}", True)
                client.starttls(ssl_context=tls_context(profile))
        try:
            _imap_login(client, credential, token)
        except imaplib.IMAP4.error:
            client.shutdown()
            refused = (
                XOAUTH2_REFUSED
                if token is not None
                else "authentication failed: check the user name and password on the mailbox"
            )
            return ConnectionCheck.failed(f"incoming: {refused}", True)
        status, _ = client.select("INBOX", readonly=True)
        client.logout()
    except (imaplib.IMAP4.error, OSError) as error:
        return _connection_failure("incoming", host, port, error)
    if status != "OK":
        return ConnectionCheck.failed("incoming: the Inbox cannot be opened", True)
    return ConnectionCheck.passed(f"incoming: signed in to {host}:{port} and opened the Inbox")


def _imap_login(client: imaplib.IMAP4, credential: Credential, token: str | None) -> None:
    if token is None:
        client.login(credential.username, credential.password)
        return
    replies = [initial_response(credential.username, token)]

    def answer(_challenge: bytes) -> bytes:
        # The first "+" asks for the initial response; a later one carries the server's
        # error, which an empty answer acknowledges to get the tagged NO.
        return replies.pop() if replies else b""

    client.authenticate("XOAUTH2", answer)


def _check_pop3(profile: ServerProfile, credential: Credential) -> ConnectionCheck:
    host = profile.incoming_host
    try:
        client = connect_pop3(profile, credential)
    except MailServerError as error:
        if not error.permanent and isinstance(error.__cause__, OSError):
            port = profile.incoming_port or 0
            return _connection_failure("incoming", host, port, error.__cause__)
        return ConnectionCheck.failed(f"incoming: {error}", error.permanent)
    with contextlib.suppress(poplib.error_proto, OSError):
        client.quit()
    return ConnectionCheck.passed(f"incoming: signed in to {host}:{client.port}")


def _connection_failure(side: str, host: str, port: int, error: BaseException) -> ConnectionCheck:
    """Certificate problems are permanent (someone must fix them); the rest may pass."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or str(cause)
            return ConnectionCheck.failed(
                f"{side}: certificate not trusted for host {host}: {reason}", True
            )
        cause = cause.__cause__ or cause.__context__
    if isinstance(error, ConnectionRefusedError):
        text = f"{side}: nothing answers at {host}:{port}: check the host name and port"
    elif isinstance(error, socket.timeout | TimeoutError | aiosmtplib.SMTPTimeoutError):
        text = f"{side}: {host}:{port} did not answer in time"
    elif isinstance(error, socket.gaierror):
        text = f"{side}: the host name {host} cannot be resolved"
    else:
        text = f"{side}: cannot connect to {host}:{port}: {error}"
    return ConnectionCheck.failed(text, False)
