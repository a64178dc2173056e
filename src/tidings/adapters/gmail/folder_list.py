"""The folders of a Gmail mailbox for folder-level tracking's picker: its labels, read with
users.labels.list (https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.labels/list),
named as ``session`` finds the label of a tracked folder."""

from __future__ import annotations

from tidings.adapters.gmail.auth import GoogleTokens
from tidings.adapters.gmail.client import GmailClient
from tidings.adapters.gmail.contract import label_folders
from tidings.domain.credentials import Credential
from tidings.domain.server_profile import ServerProfile


class GmailFolderLister:
    """Lists a Gmail mailbox's labels with the token sync uses."""

    def __init__(self, tokens: GoogleTokens) -> None:
        self._tokens = tokens

    async def list_folders(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> list[str]:
        """User labels and trackable system labels, sorted; ``MailServerError`` as Gmail's
        errors say."""
        client = GmailClient(profile, credential, address, self._tokens)
        try:
            return label_folders(await client.get("labels"))
        finally:
            await client.close()
