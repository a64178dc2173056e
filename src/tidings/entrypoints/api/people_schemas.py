"""What the user, queue and security role endpoints accept and return; passwords only go
in."""

from typing import Annotated

from pydantic import BaseModel, Field

from tidings.domain.access_levels import AccessLevel, BusinessUnit
from tidings.domain.people import PersonalOptions, Privilege, SecurityRole, TrackIncoming
from tidings.entrypoints.api.admin_schemas import Address, Id, Name, Password, StrictModel
from tidings.services.people import QueueSummary, UserSummary

# Users, queues, roles ---------------------------------------------------------------------


class RolePublic(BaseModel):
    id: int
    name: str
    privileges: list[Privilege]
    #: The access level of each privilege held.
    levels: dict[Privilege, AccessLevel]

    @classmethod
    def of(cls, role: SecurityRole) -> "RolePublic":
        assert role.id is not None  # noqa: S101 - stored roles have ids
        return cls(
            id=role.id,
            name=role.name,
            privileges=sorted(role.privileges),
            levels={p: role.level_of(p) for p in sorted(role.privileges)},
        )


class PrivilegeLevel(BaseModel):
    """One row of the role editor: a privilege and how far the role holds it."""

    privilege: Privilege
    level: AccessLevel
    #: Whether levels below Organization mean anything for it (else: none or organization).
    levelled: bool


class RoleLevels(StrictModel):
    """Every privilege the role is to hold, with its level; privileges left out are dropped."""

    levels: Annotated[dict[Privilege, AccessLevel], Field(max_length=64)]


class BusinessUnitPublic(BaseModel):
    id: int
    name: str
    parent_id: int | None

    @classmethod
    def of(cls, unit: BusinessUnit) -> "BusinessUnitPublic":
        assert unit.id is not None  # noqa: S101 - stored units have ids
        return cls(id=unit.id, name=unit.name, parent_id=unit.parent_id)


class BusinessUnitCreate(StrictModel):
    name: Name
    parent_id: Id | None = Field(None, description="The root unit when not given")


class BusinessUnitUpdate(StrictModel):
    name: Name | None = None
    parent_id: Id | None = None


class UnitAssignment(StrictModel):
    business_unit_id: Id


class QueueMembers(StrictModel):
    user_ids: Annotated[list[Id], Field(max_length=1000)]


class RoleCreate(StrictModel):
    name: Name
    privileges: list[Privilege] = Field(default_factory=list)


class RoleUpdate(StrictModel):
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


class OptionsUpdate(StrictModel):
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
    business_unit_id: int | None = None

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
            business_unit_id=user.business_unit_id,
        )


class UserCreate(StrictModel):
    full_name: Name
    email: Address
    password: Password | None = Field(None, description="Write-only; kept as an argon2 hash")
    role_ids: list[Id] = Field(default_factory=list)


class UserUpdate(StrictModel):
    full_name: Name | None = None
    email: Address | None = None
    is_active: bool | None = None


class PasswordIn(StrictModel):
    password: Password


class RoleIds(StrictModel):
    role_ids: Annotated[list[Id], Field(max_length=100)]


class QueuePublic(BaseModel):
    id: int
    name: str
    email: str
    roles: list[RolePublic]
    options: OptionsPublic
    business_unit_id: int | None = None
    #: The users who work the queue's email.
    member_ids: list[int] = Field(default_factory=list)

    @classmethod
    def of(cls, queue: QueueSummary) -> "QueuePublic":
        return cls(
            id=queue.id,
            name=queue.name,
            email=queue.email,
            roles=[RolePublic.of(r) for r in queue.roles],
            options=OptionsPublic.of(queue.options),
            business_unit_id=queue.business_unit_id,
            member_ids=sorted(queue.member_ids),
        )


class QueueCreate(StrictModel):
    name: Name
    email: Address
    role_ids: list[Id] = Field(default_factory=list)


class QueueUpdate(StrictModel):
    name: Name | None = None
    email: Address | None = None
    role_ids: list[Id] | None = None
