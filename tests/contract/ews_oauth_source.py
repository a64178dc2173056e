"""The EWS contract fake with OAuth as a conformance ``MailSource``: an Exchange Server
profile with ``auth=oauth`` whose app registration (client secret held by the profile) signs
in at the Graph fake's token endpoint and impersonates each mailbox, as an admin would set it
up for Exchange Online's EWS (docs/server-profiles/exchange-server.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.builders import Org
from tests.contract.ews_fake import FakeEwsServer
from tests.contract.ews_source import FakeEwsCategories
from tests.contract.graph_fake import FakeApp, FakeGraphServer
from tests.contract.graph_source import use_graph_profile
from tidings.domain.server_profile import CredentialSource, ServerProfile, ServerProfileKind

SECRET = "ews-app-secret"


def ews_oauth_profile(
    ews: FakeEwsServer, entra: FakeGraphServer, app: FakeApp, name: str = "Exchange (OAuth)"
) -> ServerProfile:
    """A profile pointing at the EWS fake, signing in at the Graph fake as its authority."""
    return ServerProfile(
        name=name,
        kind=ServerProfileKind.EXCHANGE_SERVER,
        credential_source=CredentialSource.PROFILE,
        options={
            "ews_url": ews.url,
            "auth": "oauth",
            "tenant_id": entra.tenant_id,
            "client_id": app.client_id,
            "authority_url": entra.authority_url,
            "ca_file": str(ews.ca_file),
        },
    )


class EwsOAuthSource(FakeEwsCategories):
    """Exchange's EWS reached by an app registration with OAuth."""

    name = "ews-oauth"
    has_folders = True
    can_throttle = True

    def __init__(self, server: FakeEwsServer, entra: FakeGraphServer) -> None:
        self.server = server
        self.entra = entra
        self.app = entra.add_app(secret=SECRET)

    def connect(self, org: Org, users: list[str]) -> None:
        for user in users:
            self.server.add_mailbox(f"{user}@northwind.example")
        profile = ews_oauth_profile(self.server, self.entra, self.app)
        use_graph_profile(org, profile, SECRET, users)

    def break_credentials(self, org: Org, user: str) -> None:
        # The secret belongs to the profile: the user moves to a profile whose secret is wrong.
        name = f"Exchange (OAuth, {user}, wrong secret)"
        broken = ews_oauth_profile(self.server, self.entra, self.app, name=name)
        use_graph_profile(org, broken, "not-the-secret", [user])

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


@contextmanager
def ews_oauth_source(directory: Path) -> Iterator[EwsOAuthSource]:
    """Start the token endpoint and a fake Exchange trusting it; yield them as a source."""
    with (
        FakeGraphServer(directory / "entra") as entra,
        FakeEwsServer(directory / "ews", identity=entra) as server,
    ):
        yield EwsOAuthSource(server, entra)
