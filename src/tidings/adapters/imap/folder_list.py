"""The folders of an IMAP account (LIST, RFC 3501 §6.3.8), for folder-level tracking's
picker: logged in as sync logs in, names as the server spells them (what SELECT wants)."""

from __future__ import annotations

from tidings.adapters.imap.client import ImapFolderSession
from tidings.adapters.oauth.tokens import OAuthTokens
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ServerProfile, ServerProfileKind

#: Folders that cannot be selected hold no email to track (RFC 3501, RFC 5258).
_NOT_FOLDERS = frozenset({"\\noselect", "\\nonexistent"})


class ImapFolderLister:
    """Lists the folders of an IMAP mailbox."""

    def __init__(self, tokens: OAuthTokens | None = None) -> None:
        self._tokens = tokens or OAuthTokens()

    async def list_folders(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> list[str]:
        """Every selectable folder, sorted; ``MailServerError`` if the server cannot say."""
        if profile.kind is not ServerProfileKind.IMAP_SMTP:
            raise MailServerError(
                f"the folders of {profile.kind.value} mailboxes cannot be listed", permanent=True
            )
        if credential is None:
            raise MailServerError("no credentials kept for the mailbox", permanent=True)
        session = await ImapFolderSession.sign_in(profile, credential, tokens=self._tokens)
        try:
            listed = await session.list_folders()
        finally:
            await session.close()
        if listed is None:
            raise MailServerError("the server refused to list the folders", permanent=False)
        return sorted({name for attributes, name in listed if not attributes & _NOT_FOLDERS})
