"""Gmail through the Gmail API: folder sync by history, sending, Test & Enable, and the
folder picker's labels.

``GmailApi`` holds what its parts share (the token cache, the push hub); bootstrap builds
one; ``push`` is also the receiver of ``/api/push/gmail`` (the Pub/Sub push subscription).
"""

from __future__ import annotations

from tidings.adapters.clock import Now, system_now
from tidings.adapters.gmail.auth import GoogleTokens
from tidings.adapters.gmail.folder_list import GmailFolderLister
from tidings.adapters.gmail.push import GmailPushHub
from tidings.adapters.gmail.sender import GmailSender
from tidings.adapters.gmail.session import GmailFolderSession
from tidings.adapters.gmail.tester import GmailTester
from tidings.domain.credentials import Credential
from tidings.domain.server_profile import ServerProfile


class GmailApi:
    """The Gmail adapters, sharing one cache of access tokens."""

    def __init__(self, now: Now = system_now) -> None:
        self.tokens = GoogleTokens()
        self.push = GmailPushHub(now=now)
        self.sender = GmailSender(self.tokens)
        self.tester = GmailTester(self.tokens)
        self.folder_lister = GmailFolderLister(self.tokens)

    async def open_folder(
        self, profile: ServerProfile, credential: Credential, address: str, folder: str
    ) -> GmailFolderSession:
        return await GmailFolderSession.open(
            profile, credential, address, folder, tokens=self.tokens, hub=self.push
        )
