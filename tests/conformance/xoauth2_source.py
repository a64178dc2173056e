"""IMAP and SMTP signed in with XOAUTH2, as a conformance source ("imap-xoauth2").

A real Dovecot whose ``oauth2`` passdb introspects tokens at the test authorization server
(``tests.servers.oauth``), and aiosmtpd checking tokens with the same server. Each mailbox
gets a refresh token of its own; breaking its credentials revokes that token.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.builders import Org
from tests.conformance.dovecot_source import DovecotCategories
from tests.conformance.source import MailSource
from tests.servers.dovecot import DovecotServer, issue_certificates
from tests.servers.oauth import OAuthServer
from tests.servers.smtp import SmtpServer
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import (
    ConnectionSecurity,
    CredentialSource,
    ServerProfile,
    ServerProfileKind,
)
from tidings.services.server_profiles import ProfileSecret

#: Dovecot's user lookups (LMTP delivery) need the users in its passwd-file too.
USERS = {f"{name}@northwind.example": f"{name}-pass" for name in ("dana", "sam", "support")}


class XOAuth2Source(DovecotCategories):
    """Dovecot and aiosmtpd taking XOAUTH2 tokens from one authorization server."""

    name = "imap-xoauth2"
    has_folders = True
    has_categories = True
    can_throttle = False

    def __init__(self, oauth: OAuthServer, dovecot: DovecotServer, smtp: SmtpServer) -> None:
        self.oauth = oauth
        self.dovecot = self._dovecot = dovecot
        self.smtp = smtp
        self._refresh_tokens: dict[str, str] = {}
        self._uidvalidity = 1_000

    def connect(self, org: Org, users: list[str]) -> None:
        profile = ServerProfile(
            name="IMAP with OAuth",
            kind=ServerProfileKind.IMAP_SMTP,
            incoming_host=self.dovecot.host,
            incoming_port=self.dovecot.imaps_port,
            incoming_security=ConnectionSecurity.TLS,
            outgoing_host=self.smtp.host,
            outgoing_port=self.smtp.port,
            outgoing_security=ConnectionSecurity.NONE,
            allow_insecure=True,
            credential_source=CredentialSource.OAUTH,
            options={
                "ca_file": str(self.dovecot.ca_file),
                "token_url": self.oauth.token_url,
                "client_id": self.oauth.client_id,
            },
        )
        for user in users:
            self._refresh_tokens[user] = self.oauth.grant(f"{user}@northwind.example")
        profile_id = org.use_profile(profile, {u: self._refresh_tokens[u] for u in users})
        admin = Caller(next(iter(org.users.values())), frozenset(Privilege))
        secret = ProfileSecret(self.oauth.client_id, self.oauth.client_secret)
        org.tidings.server_profiles.set_credentials(admin, profile_id, secret)

    def break_credentials(self, org: Org, user: str) -> None:
        # The owner revoked the app's access: the next refresh gets invalid_grant, and tokens
        # already issued stop being active too.
        self.oauth.revoke(self._refresh_tokens[user])
        self.oauth.expire_access_tokens()

    def deliver(self, address: str, raw: bytes, folder: str = "INBOX") -> None:
        self.dovecot.deliver(address, raw, folder=folder)

    def lose_cursors(self) -> None:
        # A new UIDVALIDITY on every folder: the UIDs a client kept mean nothing any more.
        for address in self.dovecot.users:
            for folder in self.dovecot.folders(address):
                self._uidvalidity += 1
                self.dovecot.doveadm(
                    "mailbox", "update", "-u", address,
                    "--uid-validity", str(self._uidvalidity), folder,
                )  # fmt: skip

    def throttle(self, requests: int) -> None:
        raise NotImplementedError("IMAP and SMTP have no throttling answer")

    def sent(self, address: str) -> list[bytes]:
        return [m.content for m in self.smtp.messages if m.login == address]


@contextmanager
def imap_xoauth2_source(directory: Path) -> Iterator[MailSource]:
    """The three servers, under ``directory``; one CA, as the profile names one ``ca_file``."""
    certificates = issue_certificates(directory / "dovecot" / "tls")
    with OAuthServer(certificates) as oauth:
        dovecot = DovecotServer(
            directory / "dovecot", USERS, oauth2_introspection_url=oauth.introspection_url
        )
        with dovecot, SmtpServer(bearer_owner=oauth.address_for) as smtp:
            yield XOAuth2Source(oauth, dovecot, smtp)
