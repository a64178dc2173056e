"""The database schema, declared once; Alembic migrations must reproduce it exactly."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from typing_extensions import override


class UtcDateTime(TypeDecorator[datetime]):
    """A time-zone-aware timestamp kept in UTC, also on SQLite, which has no time zones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    @override
    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a time zone")
        return value.astimezone(UTC)

    @override
    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)


def storable(value: str | None, length: int | None = None) -> str | None:
    """Text from an email made storable: PostgreSQL refuses NUL characters, both databases
    refuse lone surrogates, and a value longer than its column is cut to fit."""
    if value is None:
        return None
    if "\0" in value:
        value = value.replace("\0", "\ufffd")
    if not value.isascii():
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value[:length] if length else value


class MailText(TypeDecorator[str]):
    """Unbounded text that came out of an email."""

    impl = Text
    cache_ok = True

    @override
    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return storable(value)


class MailString(TypeDecorator[str]):
    """Bounded text that came out of an email, cut to the column's length."""

    impl = String
    cache_ok = True

    @override
    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        length: int | None = getattr(self.impl_instance, "length", None)
        return storable(value, length)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ADDRESS = 320  # RFC 5321 §4.5.3.1: 64 + 1 + 255, rounded up
KIND = 32
NAME = 200

email_configuration = Table(
    "email_configuration",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("processing", String(KIND), nullable=False),
    Column("default_incoming_method", String(KIND), nullable=False),
    Column("default_outgoing_method", String(KIND), nullable=False),
    Column("process_only_approved_mailboxes", Boolean, nullable=False),
    Column("use_tracking_token", Boolean, nullable=False),
    Column("tracking_token_prefix", String(20), nullable=False),
    Column("tracking_token_deployment_digits", Integer, nullable=False),
    Column("tracking_token_user_digits", Integer, nullable=False),
    Column("tracking_token_counter_digits", Integer, nullable=False),
    Column("use_correlation", Boolean, nullable=False),
    Column("use_smart_matching", Boolean, nullable=False),
    Column("smart_matching_min_recipients", Integer, nullable=False),
    Column("ambiguous_match", String(KIND), nullable=False),
    Column("track_between_users_as_two_activities", Boolean, nullable=False),
    Column("folder_level_tracking", Boolean, nullable=False),
    Column("max_attachment_kb", Integer, nullable=False),
    Column("blocked_extensions", Text, nullable=False),
    Column("skip_automated_email", Boolean, nullable=False, server_default=true()),
    Column("tracking_address", String(ADDRESS)),
    Column("use_tracked_category", Boolean, nullable=False, server_default="1"),
    Column("tracked_category", String(64), nullable=False, server_default="Tracked to Tidings"),
)

server_profiles = Table(
    "server_profiles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("kind", String(KIND), nullable=False),
    Column("incoming_host", String(255), nullable=False),
    Column("incoming_port", Integer),
    Column("incoming_security", String(KIND), nullable=False),
    Column("outgoing_host", String(255), nullable=False),
    Column("outgoing_port", Integer),
    Column("outgoing_security", String(KIND), nullable=False),
    Column("allow_insecure", Boolean, nullable=False),
    Column("verify_certificates", Boolean, nullable=False),
    Column("credential_source", String(KIND), nullable=False),
    Column("same_credentials_for_outgoing", Boolean, nullable=False),
    Column("max_concurrent_connections", Integer, nullable=False),
    Column("min_polling_interval_minutes", Integer, nullable=False),
    Column("connection_timeout_seconds", Integer, nullable=False),
    Column("process_email_received_after", UtcDateTime()),
    Column("move_failed_to_undeliverable", Boolean, nullable=False),
    Column("options", JSON, nullable=False),
)

security_roles = Table(
    "security_roles",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
)

role_privileges = Table(
    "role_privileges",
    metadata,
    Column("role_id", ForeignKey("security_roles.id", ondelete="CASCADE"), primary_key=True),
    Column("privilege", String(64), primary_key=True),
    # domain.access_levels.AccessLevel: whose things the privilege reaches.
    Column("level", String(KIND), nullable=False, server_default="organization"),
)

# The organization's tree of business units; the root (no parent) is the organization.
business_units = Table(
    "business_units",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME), nullable=False, unique=True),
    Column("parent_id", ForeignKey("business_units.id"), index=True),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("full_name", String(NAME), nullable=False),
    Column("email", String(ADDRESS), nullable=False, unique=True),
    Column("password_hash", String(255)),
    Column("is_active", Boolean, nullable=False),
    Column("track_incoming", String(64), nullable=False),
    Column("create_contacts_for_unknown_senders", Boolean, nullable=False),
    # Owners' units are read by every Business-unit-level query. No foreign key here nor on
    # the other owner columns below: SQLite cannot add one to a table in place, and
    # rebuilding the users table would cascade through everything that refers to it.
    Column("business_unit_id", Integer, index=True),
)

user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("security_roles.id", ondelete="CASCADE"), primary_key=True),
)

queues = Table(
    "queues",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME), nullable=False),
    Column("email", String(ADDRESS), nullable=False, unique=True),
    Column("track_incoming", String(64), nullable=False),
    Column("create_contacts_for_unknown_senders", Boolean, nullable=False),
    Column("business_unit_id", Integer, index=True),
)

# The users who work a queue's email: at User level they see what the queue owns.
queue_members = Table(
    "queue_members",
    metadata,
    Column("queue_id", ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)

queue_roles = Table(
    "queue_roles",
    metadata,
    Column("queue_id", ForeignKey("queues.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("security_roles.id", ondelete="CASCADE"), primary_key=True),
)

mailboxes = Table(
    "mailboxes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("address", String(ADDRESS), nullable=False, unique=True),
    Column("owner_kind", String(KIND), nullable=False),
    Column("owner_id", Integer, nullable=False),
    Column("profile_id", ForeignKey("server_profiles.id", ondelete="SET NULL")),
    Column("incoming_method", String(KIND), nullable=False),
    Column("outgoing_method", String(KIND), nullable=False),
    Column("approval", String(KIND), nullable=False),
    Column("incoming_status", String(KIND), nullable=False),
    Column("outgoing_status", String(KIND), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Index(None, "owner_kind", "owner_id"),
)

mailbox_alerts = Table(
    "mailbox_alerts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("level", String(KIND), nullable=False),
    Column("text", Text, nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
    #: The folder whose sync raised it; cleared with the folder once it is no longer tracked.
    Column("folder", String(NAME)),
)

folder_rules = Table(
    "folder_rules",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("folder", String(NAME), nullable=False),
    Column("regarding_kind", String(KIND)),
    Column("regarding_id", Integer),
    UniqueConstraint("mailbox_id", "folder"),
)


def _email_columns() -> list[Column[str | None]]:
    # D365's emailaddress1–3.
    return [Column(f"emailaddress{n}", String(ADDRESS)) for n in (1, 2, 3)]


def _owner_column() -> Column[int]:
    # D365's ownerid: the user a record belongs to, for User-level access.
    return Column("owner_id", Integer, index=True)


accounts = Table(
    "accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME), nullable=False),
    *_email_columns(),
    _owner_column(),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("full_name", MailString(NAME), nullable=False),
    Column("account_id", ForeignKey("accounts.id", ondelete="SET NULL")),
    *_email_columns(),
    _owner_column(),
)

leads = Table(
    "leads",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("full_name", String(NAME), nullable=False),
    Column("company", String(NAME), nullable=False),
    *_email_columns(),
    _owner_column(),
)

opportunities = Table(
    "opportunities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(NAME), nullable=False),
    Column("account_id", ForeignKey("accounts.id", ondelete="SET NULL")),
    _owner_column(),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(NAME), nullable=False),
    Column("ticket_number", String(64), nullable=False),
    Column("customer_kind", String(KIND)),
    Column("customer_id", Integer),
    _owner_column(),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scope", String(KIND), nullable=False),
    Column("scope_id", Integer, nullable=False),
    Column("direction", String(KIND), nullable=False),
    Column("username", String(ADDRESS), nullable=False),
    # Fernet token: the password encrypted with the instance's key, never the password.
    Column("sealed_secret", Text, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("scope", "scope_id", "direction"),
)

folder_cursors = Table(
    "folder_cursors",
    metadata,
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("folder", String(NAME), primary_key=True),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("last_uid", BigInteger, nullable=False),
    Column("highest_modseq", BigInteger),
    Column("token", Text),
    Column("updated_at", UtcDateTime(), nullable=False),
)

folder_sync_states = Table(
    "folder_sync_states",
    metadata,
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("folder", String(NAME), primary_key=True),
    Column("mode", String(KIND), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("checked_at", UtcDateTime()),
    Column("backlog", Integer, nullable=False),
    Column("first_sync_done", Integer),
    Column("first_sync_total", Integer),
    Column("last_error", Text),
)

sync_workers = Table(
    "sync_workers",
    metadata,
    Column("worker_id", String(64), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
)

#: The worker syncing each mailbox now, where workers share mailboxes (PostgreSQL).
mailbox_holders = Table(
    "mailbox_holders",
    metadata,
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True),
    Column("worker", String(255), nullable=False),
    Column("since", UtcDateTime(), nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("activity_id", ForeignKey("email_activities.id", ondelete="CASCADE"), primary_key=True),
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("envelope_from", String(ADDRESS), nullable=False),
    Column("recipients", JSON, nullable=False),
    Column("phase", String(KIND), nullable=False, index=True),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("updated_at", UtcDateTime(), nullable=False),
    # Whether the copy in the owner's Sent folder was saved (domain.outgoing.SentCopyState):
    # a crash after the server accepted the email leaves "pending", which the worker finishes.
    Column("sent_copy", String(KIND), index=True),
    Column("copy_attempts", Integer, nullable=False, server_default="0"),
)

# What a draft written in the CRM answers, beyond what its activity row holds.
email_compositions = Table(
    "email_compositions",
    metadata,
    Column("activity_id", ForeignKey("email_activities.id", ondelete="CASCADE"), primary_key=True),
    Column("original_id", ForeignKey("email_activities.id", ondelete="SET NULL")),
    Column("mode", String(KIND)),
    Column("references", MailText(), nullable=False),
    Column("created_by", ForeignKey("users.id", ondelete="SET NULL")),
)

# Idempotency-Key header values, per caller and operation, so a retried request is answered
# as the first one was instead of creating or sending again.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("operation", String(KIND), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("activity_id", ForeignKey("email_activities.id", ondelete="CASCADE")),
    Column("created_at", UtcDateTime(), nullable=False),
)

# Every address of an email-enabled record, kept beside the records by the repositories so
# that resolving all parties of an email is one indexed query.
record_addresses = Table(
    "record_addresses",
    metadata,
    Column("address", String(ADDRESS), primary_key=True),
    Column("record_kind", String(KIND), primary_key=True),
    Column("record_id", Integer, primary_key=True),
)

raw_messages = Table(
    "raw_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("folder", String(NAME), nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uid", String(255), nullable=False),
    Column("message_id", MailString(998)),
    Column("content_hash", String(64), nullable=False),
    Column("size", Integer, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("stored_at", UtcDateTime(), nullable=False),
    UniqueConstraint("mailbox_id", "folder", "uidvalidity", "uid"),
    # Copies of one email are looked for within its mailbox: by Message-ID, else by content
    # (the same bytes offered again under a changed UIDVALIDITY, or found in another folder).
    # Each key leads with the mailbox and then the identity, so a lookup is one index probe;
    # with the mailbox alone a planner would read the mailbox's every copy for each email.
    Index(None, "mailbox_id", "message_id"),
    Index(None, "mailbox_id", "content_hash", "folder"),
)

# Every further origin of bytes kept once in raw_messages: where a folder renumbered by a
# new UIDVALIDITY (or a copy in the same folder) offered them again.
raw_message_origins = Table(
    "raw_message_origins",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "raw_message_id",
        ForeignKey("raw_messages.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("folder", String(NAME), nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uid", String(255), nullable=False),
    Column("seen_at", UtcDateTime(), nullable=False),
    UniqueConstraint("mailbox_id", "folder", "uidvalidity", "uid"),
)

# When the server said a kept copy left its folder (deleted, or moved elsewhere): an origin
# listed here is no longer in that folder; one not listed is.
folder_departures = Table(
    "folder_departures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "raw_message_id",
        ForeignKey("raw_messages.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="CASCADE"), nullable=False),
    Column("folder", String(NAME), nullable=False),
    Column("uidvalidity", BigInteger, nullable=False),
    Column("uid", String(255), nullable=False),
    Column("departed_at", UtcDateTime(), nullable=False),
    UniqueConstraint("mailbox_id", "folder", "uidvalidity", "uid"),
)

#: What Tidings last knew of each kept email's tracked category on its server.
category_marks = Table(
    "category_marks",
    metadata,
    Column(
        "raw_message_id",
        ForeignKey("raw_messages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("present", Boolean, nullable=False),
    Column("written_at", UtcDateTime()),
    Column("seen", Boolean),
    Column("changed_at", UtcDateTime(), nullable=False),
)

email_activities = Table(
    "email_activities",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("owner_kind", String(KIND), nullable=False),
    Column("owner_id", Integer, nullable=False),
    Column("mailbox_id", ForeignKey("mailboxes.id", ondelete="SET NULL")),
    # Message-ID, or the content hash for email without one: one activity per owner each.
    Column("identity", MailString(998), nullable=False),
    Column("message_id", MailString(998), index=True),
    Column("subject", MailText(), nullable=False),
    Column("direction", String(KIND), nullable=False),
    Column("status", String(KIND), nullable=False),
    Column("in_reply_to", MailString(998)),
    # The References chain, bounded (domain.conversation), its ids separated by spaces.
    Column("reference_ids", MailText()),
    # The thread the email belongs to; Outlook's own conversation index is kept beside it.
    Column("conversation_id", String(32), index=True),
    Column("conversation_index", String(64), index=True),
    Column("subject_key", String(40), nullable=False, index=True),
    Column("tracking_token", String(64), index=True),
    Column("regarding_kind", String(KIND)),
    Column("regarding_id", Integer),
    Column("correlation", String(KIND), nullable=False),
    # The activity correlation found: the tracked email this one answers. No foreign key:
    # SQLite cannot add a named one in place; deleting an activity clears it instead.
    Column("matched_activity_id", Integer),
    Column("text_body", MailText(), nullable=False),
    Column("html_body", MailText()),
    Column("raw_message_id", ForeignKey("raw_messages.id", ondelete="SET NULL")),
    Column("received_at", UtcDateTime()),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("identity", "owner_kind", "owner_id"),
    Index(None, "regarding_kind", "regarding_id"),
    # Access conditions look activities up by owner (User and Business unit levels) and by
    # mailbox, and want only their ids: on PostgreSQL the index holds them (no table read).
    Index(None, "owner_kind", "owner_id", postgresql_include=["id"]),
    Index("ix_email_activities_mailbox_id", "mailbox_id", postgresql_include=["id"]),
)
# The activity grid's default order: received (or, never received, created), newest first.
Index(
    "ix_email_activities_received",
    func.coalesce(email_activities.c.received_at, email_activities.c.created_at),
    email_activities.c.id,
)

activity_parties = Table(
    "activity_parties",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "activity_id",
        ForeignKey("email_activities.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("role", String(KIND), nullable=False),
    Column("address", MailString(ADDRESS), nullable=False, index=True),
    Column("name", MailString(NAME), nullable=False),
    Column("party_kind", String(KIND)),
    Column("party_id", Integer),
    # The activities a user takes part in, for access conditions: the ids from the index.
    Index(None, "party_kind", "party_id", postgresql_include=["activity_id"]),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "activity_id",
        ForeignKey("email_activities.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("filename", MailString(NAME), nullable=False),
    Column("content_type", MailString(255), nullable=False),
    Column("size", Integer, nullable=False),
    Column("blocked_reason", MailText()),
    Column("content_id", MailString(998)),
    Column("content", LargeBinary),
)

tracking_decisions = Table(
    "tracking_decisions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "raw_message_id",
        ForeignKey("raw_messages.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("outcome", String(KIND), nullable=False),
    Column("summary", MailText(), nullable=False),
    Column("reasons", JSON, nullable=False),
    Column("correlation", String(KIND), nullable=False),
    Column("activity_id", ForeignKey("email_activities.id", ondelete="SET NULL")),
    Column("decided_at", UtcDateTime(), nullable=False),
)

parked_emails = Table(
    "parked_emails",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "raw_message_id",
        ForeignKey("raw_messages.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("stage", String(KIND), nullable=False),
    Column("error_type", MailString(NAME), nullable=False),
    Column("error", MailText(), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("parked_at", UtcDateTime(), nullable=False),
)

# Sign-in: only digests of session and API tokens are kept (see domain/access.py).
sign_in_sessions = Table(
    "sign_in_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("token_digest", String(64), nullable=False, unique=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(NAME), nullable=False),
    Column("token_digest", String(64), nullable=False, unique=True),
    Column("hint", String(16), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_used_at", UtcDateTime()),
    Column("revoked_at", UtcDateTime()),
)

# Failed sign-ins counted per client, per client and account, and per account, and the
# successes that give a client good history; keyed by digests (domain/sign_in_throttle.py),
# unknown addresses sharing buckets, so the table stays small whatever is typed.
sign_in_counters = Table(
    "sign_in_counters",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("scope", String(16), nullable=False),
    Column("tally", Integer, nullable=False),
    Column("last_at", UtcDateTime(), nullable=False, index=True),
)

# Webhooks: subscriptions, the events outbox written in the transaction of the change an
# event reports, and one delivery per event and subscription with every attempt kept.
URL = 2000

webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(URL), nullable=False),
    Column("events", JSON, nullable=False),
    # Fernet token: the signing secret encrypted with the instance's key.
    Column("sealed_secret", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Who subscribed: events reach it only about activities this user may read. None for
    # subscriptions from before access levels, which stay Organization-wide.
    Column("owner_id", Integer, index=True),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("type", String(64), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("dispatched_at", UtcDateTime(), index=True),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", ForeignKey("webhook_events.id", ondelete="CASCADE"), nullable=False),
    Column(
        "subscription_id",
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("status", String(KIND), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("event_id", "subscription_id"),
    Index(None, "status", "next_attempt_at"),
)

webhook_attempts = Table(
    "webhook_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column(
        "delivery_id",
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("number", Integer, nullable=False),
    Column("attempted_at", UtcDateTime(), nullable=False),
    Column("status_code", Integer),
    Column("error", Text),
)

#: "Track when sent", asked for in the App for Outlook while composing: honoured when the sent
#: copy arrives carrying the same X-Tidings-Track token.
track_when_sent = Table(
    "track_when_sent",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token", String(64), nullable=False, unique=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("regarding_kind", String(KIND)),
    Column("regarding_id", Integer),
    Column("created_at", UtcDateTime(), nullable=False),
)

#: Change notifications too large for a NOTIFY payload, relayed from the web process to the
#: sync workers by id; each stays a few minutes, for every worker to read.
relayed_pushes = Table(
    "relayed_pushes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("payload", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False, index=True),
)

#: Personal views: a grid's filters, sort and page size saved under a name by one user.
saved_views = Table(
    "saved_views",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("grid", String(KIND), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("query", Text, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("user_id", "grid", "name"),
)
