"""The EWS contract fake as a conformance ``MailSource``: an Exchange Server profile whose
service account impersonates each mailbox, as an admin would set it up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.builders import Org
from tests.contract.ews_fake import FakeEwsServer
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import CredentialSource, ServerProfile, ServerProfileKind
from tidings.services.server_profiles import ProfileSecret

SERVICE_ACCOUNT = "svc-tidings@northwind.example"
SERVICE_PASSWORD = "svc-pass"


def ews_profile(server: FakeEwsServer, name: str = "Exchange Server") -> ServerProfile:
    """A profile pointing at the fake: its EWS URL, basic auth, its test CA."""
    return ServerProfile(
        name=name,
        kind=ServerProfileKind.EXCHANGE_SERVER,
        credential_source=CredentialSource.PROFILE,
        options={"ews_url": server.url, "auth": "basic", "ca_file": str(server.ca_file)},
    )


class FakeEwsCategories:
    """Categories on the EWS fake's items, set and read as a person's Outlook would."""

    server: FakeEwsServer
    has_categories = True

    def stored_category(self, category: str) -> str:
        return category

    def set_category(self, address: str, message_id: str, category: str, present: bool) -> None:
        current = [c for c in self.server.categories(address, message_id) if c != category]
        self.server.set_categories(
            address, message_id, [*current, category] if present else current
        )

    def categories(self, address: str, message_id: str) -> set[str]:
        return set(self.server.categories(address, message_id))

    def withhold(self, address: str, message_id: str, withheld: bool) -> None:
        self.server.set_unconvertible(address, message_id, withheld)

    def move(self, address: str, message_id: str, source: str, destination: str) -> None:
        if destination.upper() != "INBOX":
            self.server.create_folder(address, destination)
        self.server.move(address, message_id, destination)

    def delete(self, address: str, message_id: str, folder: str = "INBOX") -> None:
        self.server.delete(address, message_id)


class EwsSource(FakeEwsCategories):
    """Exchange Server through EWS, served by ``FakeEwsServer``."""

    name = "ews"
    has_folders = True
    can_throttle = True

    def __init__(self, server: FakeEwsServer) -> None:
        self.server = server
        self._profiles: dict[str, int] = {}

    def connect(self, org: Org, users: list[str]) -> None:
        self.server.set_service_account(SERVICE_ACCOUNT, SERVICE_PASSWORD, may_impersonate=True)
        for user in users:
            self.server.add_mailbox(f"{user}@northwind.example")
        profile_id = _tie(org, ews_profile(self.server), users)
        _set_profile_secret(org, profile_id, SERVICE_PASSWORD)
        for user in users:
            self._profiles[user] = profile_id

    def break_credentials(self, org: Org, user: str) -> None:
        # The profile holds the login: a wrong password there is what an admin would mistype.
        _set_profile_secret(org, self._profiles[user], "not-the-password")

    def deliver(self, address: str, raw: bytes, folder: str = "INBOX") -> None:
        if folder.upper() != "INBOX":
            self.server.create_folder(address, folder)
        self.server.deliver(address, raw, folder)

    def lose_cursors(self) -> None:
        self.server.forget_sync_states()

    def throttle(self, requests: int) -> None:
        self.server.make_busy(requests)

    def sent(self, address: str) -> list[bytes]:
        return self.server.sent(address)


def _admin(org: Org) -> Caller:
    return Caller(next(iter(org.users.values())), frozenset(Privilege))


def _tie(org: Org, profile: ServerProfile, users: list[str]) -> int:
    with org.tidings.uow() as uow:
        profile_id = uow.server_profiles.add(profile)
        for user in users:
            mailbox = uow.mailboxes.get(org.mailboxes[user])
            assert mailbox is not None
            mailbox.profile_id = profile_id
            uow.mailboxes.save(mailbox)
        uow.commit()
    return profile_id


def _set_profile_secret(org: Org, profile_id: int, password: str) -> None:
    secret = ProfileSecret(SERVICE_ACCOUNT, password)
    org.tidings.server_profiles.set_credentials(_admin(org), profile_id, secret)


@contextmanager
def ews_source(directory: Path) -> Iterator[EwsSource]:
    """Start a fake Exchange Server in ``directory`` and yield it as a ``MailSource``."""
    with FakeEwsServer(directory) as server:
        yield EwsSource(server)
