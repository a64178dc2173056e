"""Test & Enable for Exchange Online: incoming passes when the app gets a token and reaches the
mailbox's Inbox; outgoing when the app's token carries the Mail.Send application permission.

Each failure is said the way an Entra ID admin fixes it (a secret, a permission and its admin
consent, an application access policy, a tenant id).
"""

from __future__ import annotations

from tidings.adapters.graph.client import GraphClient
from tidings.adapters.graph.folders import READ_PERMISSION, find_folder_id
from tidings.adapters.graph.sender import SEND_PERMISSION
from tidings.adapters.graph.settings import graph_settings
from tidings.adapters.graph.tokens import GraphTokens, token_roles
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ServerProfile
from tidings.domain.testing import ConnectionCheck


class GraphTester:
    """Checks a mailbox's Exchange Online settings as sync and sending will use them."""

    def __init__(self, tokens: GraphTokens) -> None:
        self._tokens = tokens

    async def check_incoming(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck:
        try:
            client = GraphClient(
                self._tokens, graph_settings(profile, credential), profile, address
            )
        except MailServerError as error:
            return ConnectionCheck.failed(f"incoming: {error}", error.permanent)
        try:
            await find_folder_id(client, "INBOX")
        except MailServerError as error:
            return ConnectionCheck.failed(f"incoming: {error}", error.permanent)
        finally:
            await client.aclose()
        return ConnectionCheck.passed(
            f"incoming: the app {client.settings.client_id} reached the Inbox of {address} "
            f"through Microsoft Graph ({READ_PERMISSION})"
        )

    async def check_outgoing(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck:
        try:
            client = GraphClient(
                self._tokens, graph_settings(profile, credential), profile, address
            )
        except MailServerError as error:
            return ConnectionCheck.failed(f"outgoing: {error}", error.permanent)
        try:
            roles = token_roles(await client.token())
        except MailServerError as error:
            return ConnectionCheck.failed(f"outgoing: {error}", error.permanent)
        finally:
            await client.aclose()
        if SEND_PERMISSION not in roles:
            granted = ", ".join(sorted(roles)) or "none"
            return ConnectionCheck.failed(
                f"outgoing: the app registration lacks {SEND_PERMISSION} application permission "
                f"(granted: {granted}): add it in Entra ID and grant admin consent",
                True,
            )
        return ConnectionCheck.passed(
            f"outgoing: the app {client.settings.client_id} may send as {address} "
            f"({SEND_PERMISSION})"
        )
