"""Email server profiles: how to reach one mail system, for every kind D365 offers."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from tidings.domain.errors import FieldValueError, ValidationError
from tidings.domain.hostnames import dns_name, host_problem


class ServerProfileKind(enum.StrEnum):
    """The mail systems a profile can describe."""

    IMAP_SMTP = "imap_smtp"
    POP3_SMTP = "pop3_smtp"
    EXCHANGE_ONLINE = "exchange_online"
    EXCHANGE_SERVER = "exchange_server"
    GMAIL = "gmail"


class ConnectionSecurity(enum.StrEnum):
    """Transport security of one connection."""

    TLS = "tls"
    STARTTLS = "starttls"
    NONE = "none"


class CredentialSource(enum.StrEnum):
    """Whose credentials log in: each mailbox's own, the profile's service account, or an
    OAuth 2.0 access token refreshed from each mailbox's refresh token (SASL XOAUTH2)."""

    MAILBOX = "mailbox"
    PROFILE = "profile"
    OAUTH = "oauth"


#: Kinds whose incoming and outgoing servers are named by host and port.
HOST_BASED_KINDS = frozenset({ServerProfileKind.IMAP_SMTP, ServerProfileKind.POP3_SMTP})


@dataclass
class ServerProfile:
    """How Tidings reaches a mail system; shared by many mailboxes."""

    name: str
    kind: ServerProfileKind
    incoming_host: str = ""
    incoming_port: int | None = None
    incoming_security: ConnectionSecurity = ConnectionSecurity.TLS
    outgoing_host: str = ""
    outgoing_port: int | None = None
    outgoing_security: ConnectionSecurity = ConnectionSecurity.STARTTLS
    allow_insecure: bool = False
    verify_certificates: bool = True
    credential_source: CredentialSource = CredentialSource.MAILBOX
    same_credentials_for_outgoing: bool = True
    max_concurrent_connections: int = 10
    min_polling_interval_minutes: int = 0
    connection_timeout_seconds: int = 30
    process_email_received_after: datetime | None = None
    move_failed_to_undeliverable: bool = False
    #: Kind-specific settings that are not secrets (tenant id, EWS URL, client id …).
    options: dict[str, str] = field(default_factory=dict)
    id: int | None = None

    @property
    def incoming_server(self) -> str:
        """The incoming server's name as DNS and its certificate know it."""
        return dns_name(self.incoming_host)

    @property
    def outgoing_server(self) -> str:
        """The outgoing server's name as DNS and its certificate know it."""
        return dns_name(self.outgoing_host)

    def warnings(self) -> list[str]:
        """What an admin should see next to this profile before trusting it."""
        found = []
        if ConnectionSecurity.NONE in (self.incoming_security, self.outgoing_security):
            found.append("email and passwords travel unencrypted to this server")
        if not self.verify_certificates:
            found.append("server certificates are not verified")
        return found


#: Kind-specific options that take one of a few words (empty: the default).
OPTION_CHOICES: dict[str, tuple[str, ...]] = {
    "save_sent_copy": ("yes", "no"),
    "auth": ("ntlm", "basic", "oauth"),
    "notifications": ("streaming", "polling"),
}


#: D365 stops a profile at 300 connections; one profile here may serve thousands of mailboxes,
#: each of whose Inboxes holds an IDLE connection, so the ceiling is the mail server's own
#: capacity (Dovecot: ``default_client_limit``, ``process_limit``), not ours.
MAX_CONCURRENT_CONNECTIONS = 100_000


def check_server_profile(profile: ServerProfile) -> ServerProfile:
    """Validate a profile as an admin enters it; raise ``ValidationError`` with what to fix."""
    if not profile.name.strip():
        raise ValidationError("a server profile needs a name")
    if not 1 <= profile.max_concurrent_connections <= MAX_CONCURRENT_CONNECTIONS:
        raise ValidationError(
            f"maximum concurrent connections must be between 1 and {MAX_CONCURRENT_CONNECTIONS:,}"
        )
    if not 0 <= profile.min_polling_interval_minutes <= 1440:
        raise ValidationError("the minimum polling interval must be between 0 and 1440 minutes")
    if not 1 <= profile.connection_timeout_seconds <= 600:
        raise ValidationError("the connection timeout must be between 1 and 600 seconds")
    if profile.kind in HOST_BASED_KINDS:
        _check_endpoints(profile)
    if profile.credential_source is CredentialSource.OAUTH:
        _check_oauth(profile)
    for name, allowed in OPTION_CHOICES.items():
        value = profile.options.get(name, "").strip().lower()
        if value and value not in allowed:
            choose = f"choose one of {', '.join(allowed)}"
            raise FieldValueError({f"options.{name}": choose}, f"the option {name}: {choose}")
    received_after = profile.process_email_received_after
    if received_after is not None and received_after.tzinfo is None:
        raise FieldValueError(
            {"process_email_received_after": "needs a time zone"},
            "'process email received after' needs a time zone",
        )
    return profile


def _check_endpoints(profile: ServerProfile) -> None:
    for role, host, port in (
        ("incoming", profile.incoming_host, profile.incoming_port),
        ("outgoing", profile.outgoing_host, profile.outgoing_port),
    ):
        if not host.strip():
            raise _bad(f"{role}_host", f"the {role} server needs a host name")
        problem = host_problem(host)
        if problem is not None:
            raise _bad(f"{role}_host", f"the {role} server location: {problem}")
        if port is not None and not 1 <= port <= 65535:
            raise _bad(f"{role}_port", f"the {role} port must be between 1 and 65535")
    insecure = ConnectionSecurity.NONE in (profile.incoming_security, profile.outgoing_security)
    if insecure and not profile.allow_insecure:
        raise ValidationError(
            "a connection without TLS needs 'allow insecure' to be set explicitly"
        )


#: Kinds whose servers take SASL XOAUTH2 with a token from the profile's token endpoint.
OAUTH_KINDS = frozenset({ServerProfileKind.IMAP_SMTP})


def _check_oauth(profile: ServerProfile) -> None:
    # The mail-API kinds (Graph, Gmail, EWS) bring their own sign-in: only the host-based
    # kinds are Tidings' to check here.
    if profile.kind in HOST_BASED_KINDS - OAUTH_KINDS:
        raise ValidationError(
            f"OAuth sign-in is available for imap_smtp profiles, not {profile.kind}"
        )
    if profile.kind not in OAUTH_KINDS:
        return
    token_url = profile.options.get("token_url", "").strip()
    if not token_url:
        raise _bad(
            "options.token_url",
            "OAuth sign-in needs the token endpoint of the authorization server (token_url)",
        )
    if not token_url.startswith("https://") and not profile.allow_insecure:
        raise _bad(
            "options.token_url",
            "the token endpoint (token_url) must be an https:// URL: refresh tokens travel to it",
        )
    if not profile.options.get("client_id", "").strip():
        raise _bad(
            "options.client_id",
            "OAuth sign-in needs the client id (client_id) of the app registered "
            "with the authorization server",
        )


def _bad(field: str, problem: str) -> FieldValueError:
    return FieldValueError({field: problem}, problem)
