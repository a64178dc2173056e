"""``EwsSender``: CRM email sent through the owner's mailbox with CreateItem, MessageDisposition
``SendAndSaveCopy``, the MIME content exactly as Tidings wrote it (so its Message-ID stays);
Exchange keeps the copy in Sent Items and takes the recipients from the MIME headers.

CreateItem (email): https://learn.microsoft.com/en-us/exchange/client-developer/web-service-reference/createitem-operation-email-message
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from exchangelib.items import Message as EwsMessage

from tidings.adapters.ews.account import Mailbox, mailbox_context, open_mailbox
from tidings.adapters.ews.threads import in_thread
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.server_profile import ServerProfile


class EwsSender:
    """Sends through Exchange Web Services; OAuth profiles take tokens from ``tokens``."""

    def __init__(self, tokens: GraphTokens | None = None) -> None:
        self._tokens = tokens or GraphTokens()

    async def send(
        self,
        profile: ServerProfile,
        credential: Credential | None,
        envelope_from: str,
        recipients: Sequence[str],
        raw: bytes,
        before_data: Callable[[], Awaitable[None]],
    ) -> None:
        context = mailbox_context(profile, envelope_from)

        def prepare() -> tuple[Mailbox, object]:
            mailbox = open_mailbox(profile, credential, envelope_from, tokens=self._tokens)
            # Finding Sent Items first leaves CreateItem as the one request that hands over.
            return mailbox, mailbox.account.sent

        mailbox, sent_items = await in_thread(context, prepare)
        try:
            message = EwsMessage(account=mailbox.account, folder=sent_items, mime_content=raw)
            await before_data()
            await in_thread(context, message.send_and_save)
        finally:
            await asyncio.to_thread(mailbox.close)
