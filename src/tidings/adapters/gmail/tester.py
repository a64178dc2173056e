"""Test & Enable for Gmail: get a token for the mailbox and read what sync and sending need."""

from __future__ import annotations

from tidings.adapters.gmail.auth import GoogleTokens
from tidings.adapters.gmail.client import GmailClient
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ServerProfile
from tidings.domain.testing import ConnectionCheck


class GmailTester:
    """Checks a Gmail mailbox as sync and sending would reach it."""

    def __init__(self, tokens: GoogleTokens) -> None:
        self._tokens = tokens

    async def check_incoming(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck:
        client = GmailClient(profile, credential, address, self._tokens)
        try:
            profile_body = await client.get("profile")
            await client.get("history", {"startHistoryId": profile_body["historyId"]})
        except MailServerError as error:
            return ConnectionCheck.failed(f"incoming: {error}", error.permanent)
        finally:
            await client.close()
        owner = str(profile_body.get("emailAddress", ""))
        if owner.casefold() != address.casefold():
            # A user's consent reaches that user's mailbox, whatever address Tidings asked for.
            return ConnectionCheck.failed(
                f"incoming: the Google credential opens {owner}, not {address}: the mailbox's "
                "own user must consent",
                permanent=True,
            )
        return ConnectionCheck.passed(f"incoming: Gmail history of {owner} is readable")

    async def check_outgoing(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck:
        # Sending needs the same token and scope (gmail.modify covers send); sending a test
        # message would put mail in the user's Sent folder, so the token is the check.
        client = GmailClient(profile, credential, address, self._tokens)
        try:
            await client.token()
            await client.get("labels")
        except MailServerError as error:
            return ConnectionCheck.failed(f"outgoing: {error}", error.permanent)
        finally:
            await client.close()
        return ConnectionCheck.passed(f"outgoing: Gmail accepts Tidings' token for {address}")
