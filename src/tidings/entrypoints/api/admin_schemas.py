"""What the administration endpoints accept and return: the shared field types and problem
responses, and the email settings and server profile shapes (Create/Update/Public).

Secrets appear only in request shapes (write-only); no public shape has a field that could
carry a password or a password hash.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tidings.domain.credentials import Direction
from tidings.domain.hostnames import host_problem
from tidings.domain.records import RecordRef
from tidings.domain.server_profile import (
    MAX_CONCURRENT_CONNECTIONS,
    ConnectionSecurity,
    CredentialSource,
    ServerProfileKind,
)
from tidings.domain.settings import (
    AmbiguousMatch,
    EmailConfiguration,
    EmailProcessing,
    SyncMethod,
)
from tidings.services.server_profiles import SECRET_MAX_LENGTH, ProfileView


def _storable(value: str) -> str:
    """Text a database can keep: PostgreSQL refuses NUL, no database takes a lone surrogate."""
    if "\0" in value:
        raise ValueError("text cannot contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text cannot contain unpaired surrogate characters") from None
    return value


storable = AfterValidator(_storable)


def _host(value: str) -> str:
    """Empty (a mail API's profile names no server), a host name or an IP address."""
    problem = host_problem(value) if value.strip() else None
    if problem is not None:
        raise ValueError(problem)
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=200), storable]
Host = Annotated[str, StringConstraints(max_length=255), storable, AfterValidator(_host)]
Address = Annotated[str, StringConstraints(min_length=3, max_length=320), storable]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1000), storable]
Text = Annotated[str, StringConstraints(max_length=1000), storable]
#: A mail server's secret: a password, an OAuth refresh token (Microsoft's run to a couple of
#: thousand characters) or a whole key file for a mail API (a Google service account key, a
#: certificate PEM), hence longer than a person's password.
Secret = Annotated[str, StringConstraints(min_length=1, max_length=SECRET_MAX_LENGTH), storable]
Id = Annotated[int, Field(ge=1, le=2_147_483_647)]
#: An id in a URL path: beyond the databases' integer range is simply not found.
PathId = Annotated[int, Path(ge=1, le=2_147_483_647)]
Port = Annotated[int, Field(ge=1, le=65535)]


def _record_text(value: str) -> str:
    RecordRef.parse(value)  # its ValueError names the known kinds
    return value


RecordText = Annotated[
    str,
    StringConstraints(max_length=64, pattern=r"^[a-z_]+:[0-9]{1,9}$"),
    AfterValidator(_record_text),
    Field(description="KIND:ID of a record, such as opportunity:3"),
]


class ProblemPublic(BaseModel):
    """RFC 9457 problem details, as every error is answered."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str


def _problem(description: str) -> dict[str, Any]:
    schema = ProblemPublic.model_json_schema()
    return {"description": description, "content": {"application/problem+json": {"schema": schema}}}


#: The errors every administration endpoint may answer, for the OpenAPI document.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    400: _problem("The request breaks a rule; ``detail`` says what to change"),
    401: _problem("Not signed in"),
    403: _problem("The caller's security roles lack the privilege"),
    404: _problem("A record named in the request does not exist"),
    409: _problem("The request conflicts with existing data"),
    422: _problem("The request does not have the documented shape"),
}


class StrictModel(BaseModel):
    """Request bodies refuse fields they do not know, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# Email configuration settings -------------------------------------------------------------


class TrackingTokenPublic(BaseModel):
    prefix: str
    deployment_digits: int
    user_digits: int
    counter_digits: int


class TrackingTokenUpdate(StrictModel):
    prefix: Annotated[str, StringConstraints(min_length=1, max_length=20), storable] | None = None
    deployment_digits: Annotated[int, Field(ge=0, le=2)] | None = None
    user_digits: Annotated[int, Field(ge=1, le=6)] | None = None
    counter_digits: Annotated[int, Field(ge=1, le=9)] | None = None


class EmailConfigurationPublic(BaseModel):
    processing: EmailProcessing
    default_incoming_method: SyncMethod
    default_outgoing_method: SyncMethod
    process_only_approved_mailboxes: bool
    use_tracking_token: bool
    tracking_token: TrackingTokenPublic
    use_correlation: bool
    use_smart_matching: bool
    smart_matching_min_recipients: int
    ambiguous_match: AmbiguousMatch
    track_between_users_as_two_activities: bool
    folder_level_tracking: bool
    max_attachment_kb: int
    blocked_extensions: list[str]
    skip_automated_email: bool
    tracking_address: str | None = Field(
        None,
        description="A queue mailbox users Bcc, Cc or forward email to, to track it",
    )
    use_tracked_category: bool = Field(
        description="Write the tracked category onto tracked email, and track or untrack "
        "email when a person sets or removes it"
    )
    tracked_category: str = Field(description="The category's name (Exchange, Gmail)")
    tracked_keyword: str = Field(
        description="The IMAP keyword the category maps to (derived from its name)"
    )

    @classmethod
    def of(cls, config: EmailConfiguration) -> "EmailConfigurationPublic":
        token = config.tracking_token
        return cls(
            processing=config.processing,
            default_incoming_method=config.default_incoming_method,
            default_outgoing_method=config.default_outgoing_method,
            process_only_approved_mailboxes=config.process_only_approved_mailboxes,
            use_tracking_token=config.use_tracking_token,
            tracking_token=TrackingTokenPublic(
                prefix=token.prefix,
                deployment_digits=token.deployment_digits,
                user_digits=token.user_digits,
                counter_digits=token.counter_digits,
            ),
            use_correlation=config.use_correlation,
            use_smart_matching=config.use_smart_matching,
            smart_matching_min_recipients=config.smart_matching_min_recipients,
            ambiguous_match=config.ambiguous_match,
            track_between_users_as_two_activities=config.track_between_users_as_two_activities,
            folder_level_tracking=config.folder_level_tracking,
            max_attachment_kb=config.max_attachment_kb,
            blocked_extensions=sorted(config.blocked_extensions),
            skip_automated_email=config.skip_automated_email,
            tracking_address=config.tracking_address,
            use_tracked_category=config.use_tracked_category,
            tracked_category=config.tracked_category,
            tracked_keyword=config.tracked_keyword,
        )


class EmailConfigurationUpdate(StrictModel):
    """Only the fields given change."""

    processing: EmailProcessing | None = None
    default_incoming_method: SyncMethod | None = None
    default_outgoing_method: SyncMethod | None = None
    process_only_approved_mailboxes: bool | None = None
    use_tracking_token: bool | None = None
    tracking_token: TrackingTokenUpdate | None = None
    use_correlation: bool | None = None
    use_smart_matching: bool | None = None
    smart_matching_min_recipients: Annotated[int, Field(ge=1, le=20)] | None = None
    ambiguous_match: AmbiguousMatch | None = None
    track_between_users_as_two_activities: bool | None = None
    folder_level_tracking: bool | None = None
    max_attachment_kb: Annotated[int, Field(ge=0, le=131072)] | None = None
    blocked_extensions: (
        Annotated[
            list[Annotated[str, StringConstraints(max_length=17), storable]],
            Field(max_length=1000),
        ]
        | None
    ) = None
    skip_automated_email: bool | None = None
    tracking_address: Annotated[str, StringConstraints(max_length=320), storable] | None = Field(
        None, description="The tracking address; null or empty for none"
    )
    use_tracked_category: bool | None = None
    tracked_category: (
        Annotated[str, StringConstraints(min_length=1, max_length=50), storable] | None
    ) = None


# Server profiles --------------------------------------------------------------------------


class _ProfileFields(StrictModel):
    incoming_host: Host | None = None
    incoming_port: Port | None = None
    incoming_security: ConnectionSecurity | None = None
    outgoing_host: Host | None = None
    outgoing_port: Port | None = None
    outgoing_security: ConnectionSecurity | None = None
    allow_insecure: bool | None = Field(
        None, description="Must be true for a connection without TLS"
    )
    verify_certificates: bool | None = None
    credential_source: CredentialSource | None = None
    same_credentials_for_outgoing: bool | None = None
    max_concurrent_connections: (
        Annotated[int, Field(ge=1, le=MAX_CONCURRENT_CONNECTIONS)] | None
    ) = None
    min_polling_interval_minutes: Annotated[int, Field(ge=0, le=1440)] | None = None
    connection_timeout_seconds: Annotated[int, Field(ge=1, le=600)] | None = None
    process_email_received_after: datetime | None = None
    move_failed_to_undeliverable: bool | None = None
    options: dict[Annotated[str, StringConstraints(max_length=100), storable], Text] | None = Field(
        None, description="Kind-specific settings that are not secrets"
    )


class ConnectionTestIn(StrictModel):
    """Whose login Test connection tries: a mailbox using the profile, or a user name and
    password for this test alone (used once, kept nowhere)."""

    mailbox_id: Id | None = None
    username: Address | None = None
    password: Secret | None = None


class ConnectionCheckPublic(BaseModel):
    status: str
    message: str


class ConnectionTestPublic(BaseModel):
    """Each direction's result, and as whom it logged in; never a password."""

    incoming: ConnectionCheckPublic
    outgoing: ConnectionCheckPublic
    tried_as: str


class CredentialsIn(StrictModel):
    """A user name and password; the password is write-only. Under OAuth the mailbox's
    password is its refresh token, and the profile's the app's client secret."""

    username: Address
    password: Secret
    direction: Direction = Direction.INCOMING


class ServerProfileCreate(_ProfileFields):
    name: Name
    kind: ServerProfileKind
    credentials: CredentialsIn | None = Field(
        None, description="The profile's own login, when credentials are held by the profile"
    )


class ServerProfileUpdate(_ProfileFields):
    name: Name | None = None
    kind: ServerProfileKind | None = None


class ServerProfilePublic(BaseModel):
    id: int
    name: str
    kind: ServerProfileKind
    incoming_host: str
    incoming_port: int | None
    incoming_security: ConnectionSecurity
    outgoing_host: str
    outgoing_port: int | None
    outgoing_security: ConnectionSecurity
    allow_insecure: bool
    verify_certificates: bool
    credential_source: CredentialSource
    same_credentials_for_outgoing: bool
    max_concurrent_connections: int
    min_polling_interval_minutes: int
    connection_timeout_seconds: int
    process_email_received_after: datetime | None
    move_failed_to_undeliverable: bool
    options: dict[str, str]
    warnings: list[str]
    mailboxes: list[str]
    credential_usernames: dict[Direction, str] = Field(
        description="User names of the logins the profile holds; passwords are never shown"
    )

    @classmethod
    def of(cls, view: ProfileView) -> "ServerProfilePublic":
        p = view.profile
        assert p.id is not None  # noqa: S101 - stored profiles have ids
        return cls(
            id=p.id,
            name=p.name,
            kind=p.kind,
            incoming_host=p.incoming_host,
            incoming_port=p.incoming_port,
            incoming_security=p.incoming_security,
            outgoing_host=p.outgoing_host,
            outgoing_port=p.outgoing_port,
            outgoing_security=p.outgoing_security,
            allow_insecure=p.allow_insecure,
            verify_certificates=p.verify_certificates,
            credential_source=p.credential_source,
            same_credentials_for_outgoing=p.same_credentials_for_outgoing,
            max_concurrent_connections=p.max_concurrent_connections,
            min_polling_interval_minutes=p.min_polling_interval_minutes,
            connection_timeout_seconds=p.connection_timeout_seconds,
            process_email_received_after=p.process_email_received_after,
            move_failed_to_undeliverable=p.move_failed_to_undeliverable,
            options=p.options,
            warnings=view.warnings,
            mailboxes=view.mailbox_addresses,
            credential_usernames=view.credential_usernames,
        )


class ProfileKindPublic(BaseModel):
    kind: ServerProfileKind
    host_based: bool
    options: list[str]
