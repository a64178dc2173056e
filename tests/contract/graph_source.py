"""The Graph contract fake as a conformance ``MailSource``: Exchange Online mailboxes reached
by an app registration whose client secret the server profile holds, as an admin sets it up
(docs/server-profiles/exchange-online.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.builders import Org
from tests.contract.graph_fake import FakeApp, FakeGraphServer
from tidings.domain.credentials import Direction
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import CredentialSource, ServerProfile, ServerProfileKind
from tidings.services.server_profiles import ProfileSecret

SECRET = "graph-app-secret"


def graph_profile(
    graph: FakeGraphServer, app: FakeApp, name: str = "Exchange Online"
) -> ServerProfile:
    """An Exchange Online profile pointed at the fake, as a national cloud's would be."""
    return ServerProfile(
        name=name,
        kind=ServerProfileKind.EXCHANGE_ONLINE,
        credential_source=CredentialSource.PROFILE,
        options={
            "tenant_id": graph.tenant_id,
            "client_id": app.client_id,
            "authority_url": graph.authority_url,
            "graph_url": graph.graph_url,
            "ca_file": str(graph.ca_file),
        },
    )


def use_graph_profile(org: Org, profile: ServerProfile, secret: str, users: list[str]) -> int:
    """Store ``profile`` with its client secret sealed, and move ``users``' mailboxes onto it."""
    admin = Caller(next(iter(org.users.values())), frozenset(Privilege))
    with org.tidings.uow() as uow:
        profile_id = uow.server_profiles.add(profile)
        for user in users:
            mailbox = uow.mailboxes.get(org.mailboxes[user])
            assert mailbox is not None
            mailbox.profile_id = profile_id
            uow.mailboxes.save(mailbox)
        uow.commit()
    client_id = profile.options["client_id"]
    for direction in Direction:
        org.tidings.server_profiles.set_credentials(
            admin, profile_id, ProfileSecret(client_id, secret, direction)
        )
    return profile_id


class GraphSource:
    """Exchange Online through the Graph contract fake."""

    name = "graph"
    has_folders = True
    can_throttle = True
    has_categories = True

    def __init__(self, graph: FakeGraphServer) -> None:
        self.graph = graph
        self.app = graph.add_app(secret=SECRET)

    def connect(self, org: Org, users: list[str]) -> None:
        for user in users:
            self.graph.add_mailbox(f"{user}@northwind.example")
        use_graph_profile(org, graph_profile(self.graph, self.app), SECRET, users)

    def break_credentials(self, org: Org, user: str) -> None:
        # The secret belongs to the profile: the user moves to a profile whose secret is wrong.
        broken = graph_profile(self.graph, self.app, name=f"Exchange Online ({user}, wrong secret)")
        use_graph_profile(org, broken, "not-the-secret", [user])

    def deliver(self, address: str, raw: bytes, folder: str = "INBOX") -> None:
        self.graph.deliver(address, raw, folder)

    def lose_cursors(self) -> None:
        self.graph.forget_delta_tokens()

    def throttle(self, requests: int) -> None:
        self.graph.throttle(requests, retry_after=1)

    def sent(self, address: str) -> list[bytes]:
        return self.graph.sent(address)

    def stored_category(self, category: str) -> str:
        return category

    def set_category(self, address: str, message_id: str, category: str, present: bool) -> None:
        current = [c for c in self.graph.categories(address, message_id) if c != category]
        self.graph.set_categories(address, message_id, [*current, category] if present else current)

    def categories(self, address: str, message_id: str) -> set[str]:
        return set(self.graph.categories(address, message_id))

    def withhold(self, address: str, message_id: str, withheld: bool) -> None:
        self.graph.set_withheld(address, message_id, withheld)

    def move(self, address: str, message_id: str, source: str, destination: str) -> None:
        self.graph.move(address, self._immutable_id(address, message_id), destination)

    def delete(self, address: str, message_id: str, folder: str = "INBOX") -> None:
        self.graph.delete(address, self._immutable_id(address, message_id))

    def _immutable_id(self, address: str, message_id: str) -> str:
        with self.graph.lock:
            mailbox = self.graph.mailboxes[address.lower()]
            return self.graph.find(mailbox, message_id).immutable_id


@contextmanager
def graph_source(directory: Path) -> Iterator[GraphSource]:
    with FakeGraphServer(directory) as graph:
        yield GraphSource(graph)
