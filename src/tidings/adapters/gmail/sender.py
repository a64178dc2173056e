"""Sending through Gmail: users.messages.send with the MIME exactly as queued, so the
Message-ID and every header stay (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/send).

Gmail takes the recipients from the message's To, Cc and Bcc headers, not from an
envelope. The token is fetched first; ``before_data`` is awaited right before the one POST
that hands the message over, so a failure before it leaves the email queued, and a broken
connection after it is never sent again (exactly once, see ``domain/outgoing.py``).
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence

import httpx

from tidings.adapters.gmail.auth import GoogleTokens
from tidings.adapters.gmail.client import GmailClient
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ServerProfile

#: Errors raised before a byte of the request went out: nothing reached Google.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class GmailSender:
    """Hands one message to Gmail for the mailbox it is sent from."""

    def __init__(self, tokens: GoogleTokens) -> None:
        self._tokens = tokens

    async def send(
        self,
        profile: ServerProfile,
        credential: Credential | None,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        before_data: Callable[[], Awaitable[None]],
    ) -> None:
        client = GmailClient(profile, credential, envelope_from, self._tokens)
        try:
            token = await client.token()
            body = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
            headers = {"Authorization": f"Bearer {token}"}
            await before_data()
            try:
                response = await client.send(
                    "POST", "messages/send", params=None, json=body, headers=headers
                )
            except MailServerError as error:
                if isinstance(error.__cause__, _NOT_SENT):
                    raise
                raise MailServerError(
                    f"outgoing: the connection to Gmail broke while sending ({error}); the "
                    "message may have been sent, so it was not sent again: check the Sent folder",
                    permanent=True,
                ) from error
            # Any HTTP answer means Gmail decided: an error status did not send the message.
            client.checked(response)
        finally:
            await client.close()
