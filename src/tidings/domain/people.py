"""Users, queues, security roles and each user's personal options."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from tidings.domain.records import RecordKind, RecordRef


class Privilege(enum.StrEnum):
    """What a security role lets its holders do."""

    TRACK_EMAIL = "track_email"
    APPROVE_EMAIL = "approve_email"
    READ_ACTIVITIES = "read_activities"
    WRITE_ACTIVITIES = "write_activities"
    READ_MAILBOXES = "read_mailboxes"
    WRITE_MAILBOXES = "write_mailboxes"
    READ_SERVER_PROFILES = "read_server_profiles"
    WRITE_SERVER_PROFILES = "write_server_profiles"
    READ_SETTINGS = "read_settings"
    WRITE_SETTINGS = "write_settings"
    READ_USERS = "read_users"
    WRITE_USERS = "write_users"
    READ_RECORDS = "read_records"
    WRITE_RECORDS = "write_records"
    #: Send email from a queue's mailbox (support@ …), as D365's "Send Email as Another User".
    SEND_AS_QUEUE = "send_as_queue"


#: The words D365 shows a user who lacks the tracking role.
NOT_AUTHORIZED_TO_TRACK = "You haven't been authorized to use this app"

#: What the tracking role opens; lacking them, a user gets D365's words above.
TRACKING_FEATURES = frozenset({Privilege.TRACK_EMAIL, Privilege.READ_ACTIVITIES})

SYSTEM_ADMINISTRATOR = "System Administrator"
#: Our analogue of "Dynamics 365 App for Outlook User".
TRACKING_ROLE = "Tidings App User"


class TrackIncoming(enum.StrEnum):
    """The personal option *Track incoming email*, with D365's exact choices."""

    ALL = "all_email_messages"
    IN_RESPONSE = "email_messages_in_response_to_email"
    FROM_CUSTOMERS = "email_messages_from_leads_contacts_and_accounts"
    FROM_EMAIL_ENABLED = "email_messages_from_records_that_are_email_enabled"
    NONE = "no_email_messages"

    @property
    def label(self) -> str:
        return _TRACK_LABELS[self]


_TRACK_LABELS = {
    TrackIncoming.ALL: "All email messages",
    TrackIncoming.IN_RESPONSE: "Email messages in response to email",
    TrackIncoming.FROM_CUSTOMERS: "Email messages from Leads, Contacts, and Accounts",
    TrackIncoming.FROM_EMAIL_ENABLED: "Email messages from records that are email enabled",
    TrackIncoming.NONE: "No email messages",
}


@dataclass
class SecurityRole:
    """A named set of privileges, assigned to users and queues."""

    name: str
    privileges: frozenset[Privilege] = frozenset()
    id: int | None = None


def standard_roles() -> list[SecurityRole]:
    """The roles every organization starts with."""
    return [
        SecurityRole(SYSTEM_ADMINISTRATOR, frozenset(Privilege)),
        SecurityRole(TRACKING_ROLE, frozenset({Privilege.TRACK_EMAIL, Privilege.READ_ACTIVITIES})),
    ]


@dataclass
class PersonalOptions:
    """A user's or queue's own tracking choices."""

    track_incoming: TrackIncoming = TrackIncoming.IN_RESPONSE
    create_contacts_for_unknown_senders: bool = False


@dataclass
class User:
    """A person who signs in, owns a mailbox and may track email."""

    full_name: str
    email: str
    role_ids: frozenset[int] = frozenset()
    options: PersonalOptions = field(default_factory=PersonalOptions)
    password_hash: str | None = None
    is_active: bool = True
    id: int | None = None

    @property
    def ref(self) -> RecordRef:
        assert self.id is not None, "a user gets its id when stored"  # noqa: S101
        return RecordRef(RecordKind.USER, self.id)


@dataclass
class Queue:
    """A shared mailbox such as support@: owned by the organization, not a person."""

    name: str
    email: str
    role_ids: frozenset[int] = frozenset()
    options: PersonalOptions = field(default_factory=PersonalOptions)
    id: int | None = None

    @property
    def ref(self) -> RecordRef:
        assert self.id is not None, "a queue gets its id when stored"  # noqa: S101
        return RecordRef(RecordKind.QUEUE, self.id)


def privileges_of(role_ids: frozenset[int], roles: dict[int, SecurityRole]) -> frozenset[Privilege]:
    """Everything the given roles allow together."""
    held: set[Privilege] = set()
    for role_id in role_ids:
        role = roles.get(role_id)
        if role is not None:
            held |= role.privileges
    return frozenset(held)


@dataclass(frozen=True)
class Caller:
    """A signed-in user and what their roles allow."""

    user: User
    privileges: frozenset[Privilege]

    def can(self, privilege: Privilege) -> bool:
        return privilege in self.privileges

    def require(self, privilege: Privilege) -> None:
        """Raise ``NotAuthorizedError`` unless the caller's roles hold ``privilege``."""
        from tidings.domain.errors import NotAuthorizedError

        if privilege not in self.privileges:
            if privilege in TRACKING_FEATURES:
                raise NotAuthorizedError(NOT_AUTHORIZED_TO_TRACK)
            raise NotAuthorizedError(f"your security roles lack the privilege {privilege.value}")
