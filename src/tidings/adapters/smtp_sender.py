"""Sending through the owner's SMTP server (aiosmtplib), one command at a time.

The envelope is sent first (MAIL FROM, RCPT TO); only then does the caller record that the
message is being handed over, and only then does DATA go out. Every failure leaves as a
``MailServerError``: permanent for 5xx replies and bad credentials, transient otherwise.
Under OAuth the sender signs in with XOAUTH2 and a cached access token.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence

import aiosmtplib

from tidings.adapters.mail_servers import smtp_auth_failure, smtp_client, smtp_login
from tidings.adapters.oauth.tokens import OAuthTokens
from tidings.domain.address_forms import WireAddress, on_the_wire
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError, ValidationError
from tidings.domain.outgoing import MessageRefusedError
from tidings.domain.server_profile import ServerProfile


class SmtpSender:
    """Hands one message to a profile's outgoing server."""

    def __init__(self, tokens: OAuthTokens | None = None) -> None:
        self._tokens = tokens or OAuthTokens()

    async def send(
        self,
        profile: ServerProfile,
        credential: Credential | None,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        before_data: Callable[[], Awaitable[None]],
    ) -> None:
        try:
            sender, *envelope = [on_the_wire(a) for a in (envelope_from, *recipients)]
        except ValidationError as error:  # queued before addresses were checked this way
            raise MailServerError(str(error), permanent=True) from error
        utf8 = any(address.needs_utf8 for address in (sender, *envelope))
        encoding, options = ("utf-8", ["SMTPUTF8"]) if utf8 else ("ascii", [])
        client = smtp_client(profile)
        try:
            await client.connect()
            if credential is not None:
                await smtp_login(client, profile, credential, self._tokens)
            if utf8:
                await _require_smtputf8(client, profile, [sender, *envelope])
            await client.mail(sender.text, options=options, encoding=encoding)
            for recipient in envelope:
                await client.rcpt(recipient.text, encoding=encoding)
            await before_data()
            await client.data(raw)
        except aiosmtplib.SMTPAuthenticationError as error:
            raise MailServerError(smtp_auth_failure(profile), permanent=True) from error
        except MailServerError as error:  # the authorization server's answer, under OAuth
            raise MailServerError(f"outgoing: {error}", permanent=error.permanent) from error
        except aiosmtplib.SMTPRecipientRefused as error:
            raise MailServerError(
                f"The mail server refused the recipient {error.recipient}: "
                f"{error.code} {error.message}",
                permanent=_permanent(error.code),
            ) from error
        except aiosmtplib.SMTPSenderRefused as error:
            raise MailServerError(
                f"The mail server refused the sender address {error.sender}: "
                f"{error.code} {error.message}",
                permanent=_permanent(error.code),
            ) from error
        except aiosmtplib.SMTPDataError as error:
            raise MessageRefusedError(
                f"The mail server refused the message: {error.code} {error.message}",
                permanent=_permanent(error.code),
            ) from error
        except aiosmtplib.SMTPResponseException as error:
            raise MailServerError(
                f"The mail server refused: {error.code} {error.message}",
                permanent=_permanent(error.code),
            ) from error
        except (aiosmtplib.SMTPException, OSError) as error:
            where = f"{profile.outgoing_host}:{profile.outgoing_port or ''}".rstrip(":")
            raise MailServerError(
                f"Could not reach the mail server {where}: {error}", permanent=False
            ) from error
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()


async def _require_smtputf8(
    client: aiosmtplib.SMTP, profile: ServerProfile, addresses: Sequence[WireAddress]
) -> None:
    """An address whose local part is not ASCII goes only to a server that offers SMTPUTF8
    (RFC 6531 §3.4): anywhere else it cannot be written, so nothing is tried."""
    if client.is_ehlo_or_helo_needed:
        await client.ehlo()
    if client.supports_extension("smtputf8"):
        return
    named = ", ".join(a.text for a in addresses if a.needs_utf8)
    raise MailServerError(
        f"the outgoing server {profile.outgoing_host} does not offer SMTPUTF8, which "
        f"internationalized addresses need (RFC 6531): {named}",
        permanent=True,
    )


def _permanent(code: int) -> bool:
    """5xx replies are final (RFC 5321 §4.2.1); 4xx may pass if tried again."""
    return 500 <= code < 600
