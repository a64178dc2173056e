"""What the administration endpoints accept and return: Create/Update/Public shapes.

Secrets appear only in request shapes (write-only); no public shape has a field that could
carry a password or a password hash.
"""

import dataclasses
from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from tidings.domain.credentials import Direction
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.mailbox import Mailbox
from tidings.domain.people import PersonalOptions, Privilege, SecurityRole, TrackIncoming
from tidings.domain.records import RecordRef
from tidings.domain.server_profile import (
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
from tidings.services.ingest import IngestResult
from tidings.services.mailbox_setup import MailboxDetail, MailboxRow
from tidings.services.manual_tracking import KeptEmail
from tidings.services.people import QueueSummary, UserSummary
from tidings.services.server_profiles import ProfileView


def _storable(value: str) -> str:
    """Text a database can keep: PostgreSQL refuses NUL, no database takes a lone surrogate."""
    if "\0" in value:
        raise ValueError("text cannot contain a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text cannot contain unpaired surrogate characters") from None
    return value


_Storable = AfterValidator(_storable)
Name = Annotated[str, StringConstraints(min_length=1, max_length=200), _Storable]
Host = Annotated[str, StringConstraints(max_length=255), _Storable]
Address = Annotated[str, StringConstraints(min_length=3, max_length=320), _Storable]
Password = Annotated[str, StringConstraints(min_length=1, max_length=1000), _Storable]
Text = Annotated[str, StringConstraints(max_length=1000), _Storable]
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


class _Strict(BaseModel):
    """Request bodies refuse fields they do not know, so a typo is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


# Email configuration settings -------------------------------------------------------------


class TrackingTokenPublic(BaseModel):
    prefix: str
    deployment_digits: int
    user_digits: int
    counter_digits: int


class TrackingTokenUpdate(_Strict):
    prefix: Annotated[str, StringConstraints(min_length=1, max_length=20), _Storable] | None = None
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
        )


class EmailConfigurationUpdate(_Strict):
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
            list[Annotated[str, StringConstraints(max_length=17), _Storable]],
            Field(max_length=1000),
        ]
        | None
    ) = None


# Server profiles --------------------------------------------------------------------------


class _ProfileFields(_Strict):
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
    max_concurrent_connections: Annotated[int, Field(ge=1, le=300)] | None = None
    min_polling_interval_minutes: Annotated[int, Field(ge=0, le=1440)] | None = None
    connection_timeout_seconds: Annotated[int, Field(ge=1, le=600)] | None = None
    process_email_received_after: datetime | None = None
    move_failed_to_undeliverable: bool | None = None
    options: dict[Annotated[str, StringConstraints(max_length=100), _Storable], Text] | None = (
        Field(None, description="Kind-specific settings that are not secrets")
    )


class CredentialsIn(_Strict):
    """A user name and password; the password is write-only."""

    username: Address
    password: Password
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


# Mailboxes --------------------------------------------------------------------------------


class FolderRulePublic(BaseModel):
    folder: str
    regarding: str | None

    @classmethod
    def of(cls, rule: FolderTrackingRule) -> "FolderRulePublic":
        return cls(folder=rule.folder, regarding=str(rule.regarding) if rule.regarding else None)


class MailboxAlertPublic(BaseModel):
    level: str
    text: str
    raised_at: datetime


class MailboxAdminPublic(BaseModel):
    id: int
    address: str
    owner: str
    owner_name: str | None
    profile_id: int | None
    profile_name: str | None
    incoming_method: SyncMethod
    outgoing_method: SyncMethod
    approval: str
    incoming_status: str
    outgoing_status: str
    enabled: bool
    alerts: list[MailboxAlertPublic]
    folder_rules: list[FolderRulePublic]
    credential_usernames: dict[Direction, str] = Field(
        description="User names of the mailbox's own logins; passwords are never shown"
    )

    @classmethod
    def of(cls, detail: MailboxDetail | MailboxRow) -> "MailboxAdminPublic":
        return cls.of_mailbox(detail.mailbox, detail)

    @classmethod
    def of_mailbox(
        cls, mailbox: Mailbox, detail: MailboxDetail | MailboxRow | None = None
    ) -> "MailboxAdminPublic":
        assert mailbox.id is not None  # noqa: S101 - stored mailboxes have ids
        full = detail if isinstance(detail, MailboxDetail) else None
        return cls(
            id=mailbox.id,
            address=mailbox.address,
            owner=str(mailbox.owner),
            owner_name=detail.owner_name if detail else None,
            profile_id=mailbox.profile_id,
            profile_name=detail.profile_name if detail else None,
            incoming_method=mailbox.incoming_method,
            outgoing_method=mailbox.outgoing_method,
            approval=mailbox.approval.value,
            incoming_status=mailbox.incoming_status.value,
            outgoing_status=mailbox.outgoing_status.value,
            enabled=mailbox.enabled,
            alerts=[
                MailboxAlertPublic(level=a.level.value, text=a.text, raised_at=a.raised_at)
                for a in mailbox.alerts
            ],
            folder_rules=[FolderRulePublic.of(r) for r in full.folder_rules] if full else [],
            credential_usernames=full.credential_usernames if full else {},
        )


class MailboxCreate(_Strict):
    address: Address
    owner: RecordText = Field(description="user:ID or queue:ID")
    profile_id: Id | None = None
    incoming_method: SyncMethod | None = None
    outgoing_method: SyncMethod | None = None


class MailboxUpdate(_Strict):
    address: Address | None = Field(None, description="A new address must be approved again")
    profile_id: Id | None = None
    incoming_method: SyncMethod | None = None
    outgoing_method: SyncMethod | None = None


class MailboxIds(_Strict):
    ids: Annotated[list[Id], Field(min_length=1, max_length=1000)]


class CheckPublic(BaseModel):
    status: str
    message: str


class TestReportPublic(BaseModel):
    mailbox_id: int
    address: str
    incoming: CheckPublic
    outgoing: CheckPublic
    enabled: bool


# Users, queues, roles ---------------------------------------------------------------------


class RolePublic(BaseModel):
    id: int
    name: str
    privileges: list[Privilege]

    @classmethod
    def of(cls, role: SecurityRole) -> "RolePublic":
        assert role.id is not None  # noqa: S101 - stored roles have ids
        return cls(id=role.id, name=role.name, privileges=sorted(role.privileges))


class RoleCreate(_Strict):
    name: Name
    privileges: list[Privilege] = []


class RoleUpdate(_Strict):
    name: Name | None = None
    privileges: list[Privilege] | None = None


class OptionsPublic(BaseModel):
    track_incoming: TrackIncoming
    track_incoming_label: str
    create_contacts_for_unknown_senders: bool

    @classmethod
    def of(cls, options: PersonalOptions) -> "OptionsPublic":
        return cls(
            track_incoming=options.track_incoming,
            track_incoming_label=options.track_incoming.label,
            create_contacts_for_unknown_senders=options.create_contacts_for_unknown_senders,
        )


class OptionsUpdate(_Strict):
    track_incoming: TrackIncoming | None = None
    create_contacts_for_unknown_senders: bool | None = None


class UserPublic(BaseModel):
    id: int
    full_name: str
    email: str
    is_active: bool
    has_password: bool
    roles: list[RolePublic]
    options: OptionsPublic

    @classmethod
    def of(cls, user: UserSummary) -> "UserPublic":
        return cls(
            id=user.id,
            full_name=user.full_name,
            email=user.email,
            is_active=user.is_active,
            has_password=user.has_password,
            roles=[RolePublic.of(r) for r in user.roles],
            options=OptionsPublic.of(user.options),
        )


class UserCreate(_Strict):
    full_name: Name
    email: Address
    password: Password | None = Field(None, description="Write-only; kept as an argon2 hash")
    role_ids: list[Id] = []


class UserUpdate(_Strict):
    full_name: Name | None = None
    email: Address | None = None
    is_active: bool | None = None


class PasswordIn(_Strict):
    password: Password


class RoleIds(_Strict):
    role_ids: Annotated[list[Id], Field(max_length=100)]


class QueuePublic(BaseModel):
    id: int
    name: str
    email: str
    roles: list[RolePublic]
    options: OptionsPublic

    @classmethod
    def of(cls, queue: QueueSummary) -> "QueuePublic":
        return cls(
            id=queue.id,
            name=queue.name,
            email=queue.email,
            roles=[RolePublic.of(r) for r in queue.roles],
            options=OptionsPublic.of(queue.options),
        )


class QueueCreate(_Strict):
    name: Name
    email: Address
    role_ids: list[Id] = []


class QueueUpdate(_Strict):
    name: Name | None = None
    email: Address | None = None
    role_ids: list[Id] | None = None


# Folder rules, tracking by hand, parked email ---------------------------------------------


class FolderRuleIn(_Strict):
    folder: Name
    regarding: RecordText | None = None


class TrackIn(_Strict):
    """Name the kept email by its id in the raw store or by its Message-ID."""

    raw_message_id: Id | None = None
    message_id: (
        Annotated[str, StringConstraints(min_length=1, max_length=998), _Storable] | None
    ) = None


class KeptEmailPublic(BaseModel):
    raw_message_id: int
    mailbox_id: int
    folder: str
    message_id: str | None
    subject: str
    sender: str | None
    sent_at: datetime | None
    summary: str

    @classmethod
    def of(cls, kept: KeptEmail) -> "KeptEmailPublic":
        return cls(**dataclasses.asdict(kept))


class TrackPublic(BaseModel):
    raw_message_id: int
    activity_id: int
    summary: str


class UntrackIn(_Strict):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500), _Storable]


class RegardingIn(_Strict):
    regarding: RecordText | None = Field(description="KIND:ID, or null to clear it")


class RegardingPublic(BaseModel):
    activity_id: int
    regarding: str | None


class ReplayPublic(BaseModel):
    raw_message_id: int
    outcome: str
    summary: str
    activity_id: int | None

    @classmethod
    def of(cls, result: IngestResult) -> "ReplayPublic":
        return cls(
            raw_message_id=result.raw_message_id,
            outcome=result.outcome.value,
            summary=result.summary,
            activity_id=result.activity_id,
        )
