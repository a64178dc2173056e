"""Where a profile's Exchange Online lives: tenant, app registration, sign-in and Graph URLs.

National clouds (US Government, China) have their own sign-in and Graph hosts, so both are
profile options defaulting to the public cloud; tests point them at the contract fake.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ServerProfile

PUBLIC_AUTHORITY = "https://login.microsoftonline.com"
PUBLIC_GRAPH = "https://graph.microsoft.com"


@dataclass(frozen=True)
class GraphSettings:
    """One app registration in one tenant, as a profile and its credential name it."""

    tenant_id: str
    client_id: str
    authority_url: str
    graph_url: str
    #: The client secret, or a PEM with the certificate's private key (and certificate).
    secret: str = field(repr=False)
    certificate_thumbprint: str = ""
    ca_file: str = ""
    verify_certificates: bool = True
    timeout_seconds: float = 30.0

    @property
    def authority(self) -> str:
        return f"{self.authority_url}/{self.tenant_id}"

    @property
    def api(self) -> str:
        """The v1.0 endpoint every call is made under."""
        return f"{self.graph_url}/v1.0"

    @property
    def scope(self) -> str:
        # App-only tokens ask for the resource's statically granted permissions.
        return f"{self.graph_url}/.default"

    @property
    def cache_key(self) -> tuple[str, ...]:
        """Names one MSAL app (and its token cache): a changed secret makes a new one."""
        digest = hashlib.sha256(self.secret.encode()).hexdigest()
        verify = f"{self.verify_certificates}:{self.ca_file}"
        return (self.authority, self.client_id, digest, self.certificate_thumbprint, verify)

    @property
    def is_certificate(self) -> bool:
        return "PRIVATE KEY-----" in self.secret


def graph_settings(profile: ServerProfile, credential: Credential | None) -> GraphSettings:
    """The profile's Graph settings; ``MailServerError`` (permanent) naming what is missing."""
    options = profile.options
    if credential is None or not credential.password:
        raise MailServerError(
            "no client secret or certificate: enter the app registration's client secret "
            "(or certificate PEM) as the server profile's credentials",
            permanent=True,
        )
    tenant_id = options.get("tenant_id", "").strip()
    client_id = options.get("client_id", "").strip() or credential.username.strip()
    if not tenant_id or not client_id:
        raise MailServerError(
            "the server profile needs the tenant id (Directory ID) and the client id "
            "(Application ID) of the app registration in Entra ID",
            permanent=True,
        )
    return GraphSettings(
        tenant_id=tenant_id,
        client_id=client_id,
        authority_url=(options.get("authority_url") or PUBLIC_AUTHORITY).rstrip("/"),
        graph_url=(options.get("graph_url") or PUBLIC_GRAPH).rstrip("/"),
        secret=credential.password,
        certificate_thumbprint=options.get("certificate_thumbprint", "").strip(),
        ca_file=options.get("ca_file", ""),
        verify_certificates=profile.verify_certificates,
        timeout_seconds=float(profile.connection_timeout_seconds),
    )
