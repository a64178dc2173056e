"""Users, queues, security roles and each user's personal options."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from tidings.domain.access_levels import AccessLevel, Scope, deepest
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
    #: A user's personal options (D365's "User Settings"): one's own at User level.
    READ_USER_SETTINGS = "read_user_settings"
    WRITE_USER_SETTINGS = "write_user_settings"


#: Privileges whose access level decides whose things they reach; the rest are all or
#: nothing (an organization has one set of settings and server profiles).
LEVELLED = frozenset(
    {
        #: Tracking is of one's own email; held at User level by the tracking role.
        Privilege.TRACK_EMAIL,
        Privilege.SEND_AS_QUEUE,
        Privilege.READ_ACTIVITIES,
        Privilege.WRITE_ACTIVITIES,
        Privilege.READ_MAILBOXES,
        Privilege.WRITE_MAILBOXES,
        Privilege.READ_RECORDS,
        Privilege.WRITE_RECORDS,
        Privilege.READ_USER_SETTINGS,
        Privilege.WRITE_USER_SETTINGS,
    }
)


#: The words D365 shows a user who lacks the tracking role.
NOT_AUTHORIZED_TO_TRACK = "You haven't been authorized to use this app"

#: What the tracking role opens; lacking them, a user gets D365's words above.
TRACKING_FEATURES = frozenset({Privilege.TRACK_EMAIL, Privilege.READ_ACTIVITIES})

SYSTEM_ADMINISTRATOR = "System Administrator"
#: Our analogue of "Dynamics 365 App for Outlook User".
TRACKING_ROLE = "Tidings App User"
#: Example roles, as D365 ships Salesperson and Customer Service Representative.
SALESPERSON_ROLE = "Salesperson"
SUPPORT_ROLE = "Support"


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
    """A named set of privileges, each held at an access level, assigned to users and queues.

    A privilege in ``privileges`` but not in ``levels`` is held Organization-wide.
    """

    name: str
    privileges: frozenset[Privilege] = frozenset()
    id: int | None = None
    levels: dict[Privilege, AccessLevel] = field(default_factory=dict)

    def level_of(self, privilege: Privilege) -> AccessLevel:
        if privilege not in self.privileges:
            return AccessLevel.NONE
        return self.levels.get(privilege, AccessLevel.ORGANIZATION)

    def with_levels(self, levels: Mapping[Privilege, AccessLevel]) -> SecurityRole:
        """This role holding exactly ``levels`` (``NONE`` drops a privilege)."""
        held: dict[Privilege, AccessLevel] = {
            p: level for p, level in levels.items() if level is not AccessLevel.NONE
        }
        return SecurityRole(self.name, frozenset(held), self.id, held)


def _at(level: AccessLevel, *privileges: Privilege) -> dict[Privilege, AccessLevel]:
    return dict.fromkeys(privileges, level)


def _role(name: str, levels: dict[Privilege, AccessLevel]) -> SecurityRole:
    return SecurityRole(name).with_levels(levels)


def standard_roles() -> list[SecurityRole]:
    """The roles every organization starts with."""
    user, unit = AccessLevel.USER, AccessLevel.BUSINESS_UNIT
    own_settings = _at(user, Privilege.READ_USER_SETTINGS, Privilege.WRITE_USER_SETTINGS)
    return [
        _role(SYSTEM_ADMINISTRATOR, _at(AccessLevel.ORGANIZATION, *Privilege)),
        _role(TRACKING_ROLE, tracking_role_levels()),
        _role(
            SALESPERSON_ROLE,
            {
                **_at(user, Privilege.TRACK_EMAIL, Privilege.READ_MAILBOXES),
                **_at(unit, Privilege.READ_ACTIVITIES, Privilege.READ_RECORDS),
                **_at(user, Privilege.WRITE_ACTIVITIES, Privilege.WRITE_RECORDS),
                **own_settings,
            },
        ),
        _role(
            SUPPORT_ROLE,
            {
                **_at(user, Privilege.TRACK_EMAIL, Privilege.READ_ACTIVITIES),
                **_at(user, Privilege.WRITE_ACTIVITIES, Privilege.READ_MAILBOXES),
                **_at(user, Privilege.SEND_AS_QUEUE),
                **_at(unit, Privilege.READ_RECORDS),
                **own_settings,
            },
        ),
    ]


def tracking_role_levels() -> dict[Privilege, AccessLevel]:
    """The tracking role: one's own activities, mailbox, options and the records one owns."""
    return _at(
        AccessLevel.USER,
        Privilege.TRACK_EMAIL,
        Privilege.READ_ACTIVITIES,
        Privilege.READ_MAILBOXES,
        Privilege.READ_RECORDS,
        Privilege.READ_USER_SETTINGS,
        Privilege.WRITE_USER_SETTINGS,
    )


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
    business_unit_id: int | None = None

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
    business_unit_id: int | None = None
    #: The users who work this queue's email (D365's queue members).
    member_ids: frozenset[int] = frozenset()

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


def levels_of(
    role_ids: frozenset[int], roles: dict[int, SecurityRole]
) -> dict[Privilege, AccessLevel]:
    """Each privilege's deepest level over the given roles."""
    chosen = [roles[i] for i in role_ids if i in roles]
    return {
        privilege: deepest(r.level_of(privilege) for r in chosen)
        for privilege in privileges_of(role_ids, roles)
    }


@dataclass(frozen=True)
class Caller:
    """A signed-in user, what their roles allow, and how far (see ``domain.access_levels``).

    ``levels`` lacking a held privilege means Organization level; ``reach`` is the caller's
    business unit, with the units below it when a privilege is held at Parent: Child level.
    """

    user: User
    privileges: frozenset[Privilege]
    levels: Mapping[Privilege, AccessLevel] = field(default_factory=dict, compare=False)
    business_unit_id: int | None = None
    units_below: frozenset[int] = frozenset()
    queue_ids: frozenset[int] = frozenset()

    def can(self, privilege: Privilege) -> bool:
        return privilege in self.privileges

    def level(self, privilege: Privilege) -> AccessLevel:
        if privilege not in self.privileges:
            return AccessLevel.NONE
        return self.levels.get(privilege, AccessLevel.ORGANIZATION)

    def scope(self, privilege: Privilege) -> Scope:
        """Whose things ``privilege`` reaches for this caller; ``NotAuthorizedError``
        when the caller's roles do not hold it at all."""
        self.require(privilege)
        return self.reach(privilege)

    def reach(self, privilege: Privilege) -> Scope:
        """Whose things ``privilege`` reaches for this caller: nobody's when not held.
        The one place a caller becomes a ``Scope``."""
        level = self.level(privilege)
        if level is AccessLevel.NONE:
            return Scope(level, self.user.id or 0)
        user_id = self.user.id or 0
        if level is AccessLevel.ORGANIZATION:
            return Scope(level, user_id, self.queue_ids)
        if level is AccessLevel.USER or self.business_unit_id is None:
            return Scope(AccessLevel.USER, user_id, self.queue_ids)
        reach = (
            self.units_below | {self.business_unit_id}
            if level is AccessLevel.PARENT_CHILD
            else frozenset({self.business_unit_id})
        )
        return Scope(level, user_id, self.queue_ids, reach)

    def require(self, privilege: Privilege) -> None:
        """Raise ``NotAuthorizedError`` unless the caller's roles hold ``privilege``."""
        from tidings.domain.errors import NotAuthorizedError

        if privilege not in self.privileges:
            if privilege in TRACKING_FEATURES:
                raise NotAuthorizedError(NOT_AUTHORIZED_TO_TRACK)
            raise NotAuthorizedError(f"your security roles lack the privilege {privilege.value}")
