"""``GraphSender``: CRM email sent through the owner's mailbox with Graph's sendMail, as MIME
(learn.microsoft.com/graph/api/user-sendmail: the message base64-encoded, ``Content-Type:
text/plain``; Exchange keeps a copy in Sent Items).

The MIME goes as it is, so the Message-ID fixed before the first try stays. Graph takes the
recipients from the MIME's To, Cc and Bcc headers, not from an envelope.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Sequence

from tidings.adapters.graph.client import GraphClient
from tidings.adapters.graph.settings import graph_settings
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.server_profile import ServerProfile

SEND_PERMISSION = "Mail.Send"


class GraphSender:
    """Sends through Microsoft Graph (a ``MailSender``)."""

    def __init__(self, tokens: GraphTokens) -> None:
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
        client = GraphClient(
            self._tokens, graph_settings(profile, credential), profile, envelope_from
        )
        try:
            # A token first, so a sign-in failure happens before the message counts as handed
            # over; before_data is awaited right before the POST that hands it over.
            await client.token()
            await client.request(
                "POST",
                f"{client.user_url}/sendMail",
                permission=SEND_PERMISSION,
                headers={"Content-Type": "text/plain"},
                content=base64.b64encode(raw),
                before_send=before_data,
            )
        finally:
            await client.aclose()
