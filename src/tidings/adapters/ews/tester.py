"""``EwsTester``: Test & Enable for Exchange Server, with the requests sync and sending make
first: the mailbox's Inbox (incoming) and its Sent Items (outgoing), as the profile's
account, impersonating the mailbox when the profile holds a service account."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tidings.adapters.ews.account import mailbox_context, open_mailbox
from tidings.adapters.ews.threads import in_thread
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ServerProfile
from tidings.domain.testing import ConnectionCheck


class EwsTester:
    """Checks a mailbox's EWS access the way sync and sending use it."""

    def __init__(self, tokens: GraphTokens | None = None) -> None:
        self._tokens = tokens or GraphTokens()

    async def check_incoming(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck:
        return await _check(
            self._tokens,
            profile,
            credential,
            address,
            lambda account: account.inbox,
            "incoming",
            f"the Inbox of {address} is reachable through EWS",
        )

    async def check_outgoing(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck:
        return await _check(
            self._tokens,
            profile,
            credential,
            address,
            lambda account: account.sent,
            "outgoing",
            f"{address} may send through EWS, with a copy in its Sent Items",
        )


async def _check(
    tokens: GraphTokens,
    profile: ServerProfile,
    credential: Credential | None,
    address: str,
    probe: Callable[[Any], object],
    side: str,
    passed: str,
) -> ConnectionCheck:
    context = mailbox_context(profile, address)

    def run() -> None:
        mailbox = open_mailbox(profile, credential, address, tokens=tokens)
        try:
            probe(mailbox.account)
        finally:
            mailbox.close()

    try:
        await in_thread(context, run)
    except MailServerError as error:
        return ConnectionCheck.failed(f"{side}: {error}", error.permanent)
    return ConnectionCheck.passed(f"{side}: {passed}")
