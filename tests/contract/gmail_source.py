"""Gmail as a conformance ``MailSource``: the contract fake, and mailboxes set up as a
Google Workspace admin would, with a service account holding domain-wide delegation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.builders import Org
from tests.contract.gmail_fake import FakeGmailServer
from tests.contract.gmail_fake_api import MODIFY
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import CredentialSource, ServerProfile, ServerProfileKind

CLIENT_ID = "117000000000000000042"
DOMAIN = "northwind.example"


def gmail_profile(fake: FakeGmailServer, source: CredentialSource) -> ServerProfile:
    """A Gmail profile whose endpoints are the fake's, trusting its test CA."""
    return ServerProfile(
        name="Google Workspace",
        kind=ServerProfileKind.GMAIL,
        credential_source=source,
        options={
            "gmail_url": fake.url,
            "token_url": fake.token_url,
            "ca_file": str(fake.ca_file),
        },
    )


class GmailSource:
    """The Gmail fake, driven the way the conformance suite drives every source."""

    name = "gmail"
    has_folders = True
    has_categories = True
    can_throttle = True

    def __init__(self, fake: FakeGmailServer) -> None:
        self.fake = fake
        self.key = fake.auth.create_service_account(CLIENT_ID)
        fake.grant_delegation(CLIENT_ID, [MODIFY])

    def connect(self, org: Org, users: list[str]) -> None:
        # Each mailbox holds the service account's key as its credential, so one mailbox's
        # credential can go bad alone (a profile-held key is tested in test_gmail_sync).
        for user in users:
            self.fake.add_mailbox(f"{user}@{DOMAIN}")
        key = json.dumps(self.key)
        org.use_profile(
            gmail_profile(self.fake, CredentialSource.MAILBOX), dict.fromkeys(users, key)
        )

    def break_credentials(self, org: Org, user: str) -> None:
        # A key Google never issued for that account (a deleted key, say): its signature fails.
        forged = json.dumps(self.fake.auth.forged_key(self.key))
        admin = Caller(next(iter(org.users.values())), frozenset(Privilege))
        address = f"{user}@{DOMAIN}"
        org.tidings.mailboxes.set_credentials(admin, org.mailboxes[user], address, forged)

    def deliver(self, address: str, raw: bytes, folder: str = "INBOX") -> None:
        labels = ("INBOX", "UNREAD") if folder == "INBOX" else (folder,)
        self.fake.deliver(address, raw, labels)

    def lose_cursors(self) -> None:
        self.fake.forget_history()

    def throttle(self, requests: int) -> None:
        self.fake.throttle(requests)

    def stored_category(self, category: str) -> str:
        return category

    def set_category(self, address: str, message_id: str, category: str, present: bool) -> None:
        labels = (category,)
        found = self.fake.find(address, message_id)
        self.fake.relabel(
            address, found, add=labels if present else (), remove=() if present else labels
        )

    def categories(self, address: str, message_id: str) -> set[str]:
        # Labels are Gmail's categories; the folder's own (INBOX) and system ones aside.
        return {x for x in self.fake.labels_of(address, message_id) if x != x.upper()}

    def sent(self, address: str) -> list[bytes]:
        return self.fake.sent(address)

    def withhold(self, address: str, message_id: str, withheld: bool) -> None:
        self.fake.set_withheld(address, message_id, withheld)

    def move(self, address: str, message_id: str, source: str, destination: str) -> None:
        # A move in Gmail's web client: the one label off, the other on (the id stays).
        found = self.fake.find(address, message_id)
        self.fake.relabel(address, found, add=(destination,), remove=(source,))

    def delete(self, address: str, message_id: str, folder: str = "INBOX") -> None:
        self.fake.delete(address, self.fake.find(address, message_id))


@contextmanager
def gmail_source(directory: Path) -> Iterator[GmailSource]:
    """The Gmail fake running in ``directory``, as a ``MailSource``."""
    with FakeGmailServer(directory) as fake:
        yield GmailSource(fake)
