"""Users, queues and security roles: who may do what, as an admin sets it up.

Users come back as ``UserSummary``, never as the stored ``User``: the password hash stays in
this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tidings.domain.access_levels import AccessLevel
from tidings.domain.errors import ConflictError, FieldValueError, NotFoundError, ValidationError
from tidings.domain.people import (
    LEVELLED,
    SYSTEM_ADMINISTRATOR,
    Caller,
    PersonalOptions,
    Privilege,
    Queue,
    SecurityRole,
    User,
    privileges_of,
)
from tidings.domain.records import RecordKind, RecordRef, is_email_address, normalize_address
from tidings.services.changes import check_text, read_bool
from tidings.services.mailbox_setup import add_mailbox
from tidings.services.ports import PasswordHasher, UnitOfWork

#: Passwords shorter than this are refused (NIST SP 800-63B §5.1.1.2 asks for at least 8).
MIN_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class NewMailbox:
    """The mailbox created with a new user: its address (empty: the user's) and profile."""

    address: str = ""
    profile_id: int | None = None


@dataclass(frozen=True)
class UserSummary:
    """A user as the console and the API show it."""

    id: int
    full_name: str
    email: str
    is_active: bool
    roles: list[SecurityRole]
    options: PersonalOptions
    has_password: bool
    business_unit_id: int | None = None


@dataclass(frozen=True)
class QueueSummary:
    """A queue as the console and the API show it."""

    id: int
    name: str
    email: str
    roles: list[SecurityRole]
    options: PersonalOptions
    business_unit_id: int | None = None
    member_ids: frozenset[int] = frozenset()


class PeopleService:
    """Creating and changing users, queues and roles; privileges checked on every call."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], hasher: PasswordHasher) -> None:
        self._uow = uow_factory
        self._hasher = hasher

    # Users ---------------------------------------------------------------------------------

    def list_users(self, caller: Caller) -> list[UserSummary]:
        caller.require(Privilege.READ_USERS)
        with self._uow() as uow:
            roles = uow.directory.roles()
            return [user_summary(u, roles) for u in uow.directory.list_users()]

    def get_user(self, caller: Caller, user_id: int) -> UserSummary:
        """One user; everyone may read their own."""
        if user_id != caller.user.id:
            caller.require(Privilege.READ_USERS)
        with self._uow() as uow:
            return user_summary(require_user(uow, user_id), uow.directory.roles())

    def find_user(self, caller: Caller, email: str) -> UserSummary:
        """The user with this email address; ``NotFoundError`` if none."""
        caller.require(Privilege.READ_USERS)
        with self._uow() as uow:
            user = uow.directory.get_user_by_email(normalize_address(email))
            if user is None:
                raise NotFoundError(f"no user with the address {email}")
            return user_summary(user, uow.directory.roles())

    def create_user(
        self,
        caller: Caller,
        *,
        full_name: str,
        email: str,
        password: str | None = None,
        role_ids: Iterable[int | str] = (),
        mailbox: NewMailbox | None = None,
    ) -> UserSummary:
        """A new user; with ``mailbox``, the user's mailbox too, in the same transaction
        (then the mailbox privilege is needed as well)."""
        caller.require(Privilege.WRITE_USERS)
        if mailbox is not None:
            caller.require(Privilege.WRITE_MAILBOXES)
        name, address = _check_name(full_name), _check_email(email)
        if password is not None:
            _check_password(password)
        with self._uow() as uow:
            _check_address_free(uow, address, None)
            roles = uow.directory.roles()
            user = User(name, address, _check_roles(roles, role_ids))
            if password is not None:
                user.password_hash = self._hasher.hash(password)
            uow.directory.add_user(user)
            if mailbox is not None:
                add_mailbox(
                    uow, address=mailbox.address or address, owner=user.ref,
                    profile_id=mailbox.profile_id,
                )  # fmt: skip
            uow.commit()
            return user_summary(user, roles)

    def update_user(
        self,
        caller: Caller,
        user_id: int,
        *,
        full_name: str | None = None,
        email: str | None = None,
        is_active: bool | str | None = None,
    ) -> UserSummary:
        """Change a user's name, address or whether they may sign in."""
        caller.require(Privilege.WRITE_USERS)
        if (
            is_active is not None
            and not read_bool("is_active", is_active)
            and (user_id == caller.user.id)
        ):
            raise ValidationError("you cannot deactivate yourself")
        with self._uow() as uow:
            user = require_user(uow, user_id)
            if full_name is not None:
                user.full_name = _check_name(full_name)
            if email is not None:
                user.email = _check_email(email)
                _check_address_free(uow, user.email, user.ref)
            if is_active is not None:
                user.is_active = read_bool("is_active", is_active)
            uow.directory.save_user(user)
            uow.commit()
            return user_summary(user, uow.directory.roles())

    def deactivate_user(self, caller: Caller, user_id: int) -> UserSummary:
        """The user can no longer sign in; their mailbox and activities stay."""
        return self.update_user(caller, user_id, is_active=False)

    def set_password(self, caller: Caller, user_id: int, password: str) -> None:
        """Set a user's password (hashed); everyone may set their own."""
        if user_id != caller.user.id:
            caller.require(Privilege.WRITE_USERS)
        _check_password(password)
        with self._uow() as uow:
            user = require_user(uow, user_id)
            user.password_hash = self._hasher.hash(password)
            uow.directory.save_user(user)
            uow.commit()

    def assign_user_roles(
        self, caller: Caller, user_id: int, role_ids: Iterable[int | str]
    ) -> UserSummary:
        """Replace the user's security roles."""
        caller.require(Privilege.WRITE_USERS)
        with self._uow() as uow:
            roles = uow.directory.roles()
            user = require_user(uow, user_id)
            user.role_ids = _check_roles(roles, role_ids)
            held = privileges_of(user.role_ids, roles)
            if user_id == caller.user.id and Privilege.WRITE_USERS not in held:
                raise ValidationError("you cannot take away your own right to manage users")
            uow.directory.save_user(user)
            uow.commit()
            return user_summary(user, roles)

    # Queues --------------------------------------------------------------------------------

    def list_queues(self, caller: Caller) -> list[QueueSummary]:
        caller.require(Privilege.READ_USERS)
        with self._uow() as uow:
            roles = uow.directory.roles()
            return [_queue(q, roles) for q in uow.directory.list_queues()]

    def get_queue(self, caller: Caller, queue_id: int) -> QueueSummary:
        caller.require(Privilege.READ_USERS)
        with self._uow() as uow:
            return _queue(require_queue(uow, queue_id), uow.directory.roles())

    def create_queue(
        self, caller: Caller, *, name: str, email: str, role_ids: Iterable[int | str] = ()
    ) -> QueueSummary:
        caller.require(Privilege.WRITE_USERS)
        queue_name, address = _check_name(name), _check_email(email)
        with self._uow() as uow:
            _check_address_free(uow, address, None)
            roles = uow.directory.roles()
            queue = Queue(queue_name, address, _check_roles(roles, role_ids))
            uow.directory.add_queue(queue)
            uow.commit()
            return _queue(queue, roles)

    def update_queue(
        self,
        caller: Caller,
        queue_id: int,
        *,
        name: str | None = None,
        email: str | None = None,
        role_ids: Iterable[int | str] | None = None,
    ) -> QueueSummary:
        """Change a queue's name, address or security roles."""
        caller.require(Privilege.WRITE_USERS)
        with self._uow() as uow:
            roles = uow.directory.roles()
            queue = require_queue(uow, queue_id)
            if name is not None:
                queue.name = _check_name(name)
            if email is not None:
                queue.email = _check_email(email)
                _check_address_free(uow, queue.email, queue.ref)
            if role_ids is not None:
                queue.role_ids = _check_roles(roles, role_ids)
            uow.directory.save_queue(queue)
            uow.commit()
            return _queue(queue, roles)

    # Security roles ------------------------------------------------------------------------

    def list_roles(self, caller: Caller) -> list[SecurityRole]:
        caller.require(Privilege.READ_USERS)
        with self._uow() as uow:
            return sorted(uow.directory.roles().values(), key=lambda r: r.name)

    def create_role(
        self, caller: Caller, *, name: str, privileges: Iterable[Privilege | str]
    ) -> SecurityRole:
        caller.require(Privilege.WRITE_USERS)
        role = SecurityRole(_check_name(name), _check_privileges(privileges))
        with self._uow() as uow:
            _check_role_name_free(uow, role.name, None)
            uow.directory.add_role(role)
            uow.commit()
        return role

    def get_role(self, caller: Caller, role_id: int) -> SecurityRole:
        caller.require(Privilege.READ_USERS)
        with self._uow() as uow:
            role = uow.directory.roles().get(role_id)
        if role is None:
            raise NotFoundError(f"no security role with id {role_id}")
        return role

    def set_role_levels(
        self,
        caller: Caller,
        role_id: int,
        levels: Mapping[Privilege, AccessLevel] | Mapping[str, str],
    ) -> SecurityRole:
        """Hold exactly these privileges at these access levels (``none`` drops one), as
        D365's role editor saves its grid; System Administrator cannot be changed."""
        caller.require(Privilege.WRITE_USERS)
        wanted = _check_levels(levels)
        with self._uow() as uow:
            role = uow.directory.roles().get(role_id)
            if role is None:
                raise NotFoundError(f"no security role with id {role_id}")
            if role.name == SYSTEM_ADMINISTRATOR:
                raise ValidationError(f"the {SYSTEM_ADMINISTRATOR} role cannot be changed")
            changed = role.with_levels(wanted)
            uow.directory.save_role(changed)
            uow.commit()
        return changed

    def update_role(
        self,
        caller: Caller,
        role_id: int,
        *,
        name: str | None = None,
        privileges: Iterable[Privilege | str] | None = None,
    ) -> SecurityRole:
        """Rename a role or replace its privileges; System Administrator keeps them all."""
        caller.require(Privilege.WRITE_USERS)
        with self._uow() as uow:
            role = uow.directory.roles().get(role_id)
            if role is None:
                raise NotFoundError(f"no security role with id {role_id}")
            if role.name == SYSTEM_ADMINISTRATOR:
                raise ValidationError(f"the {SYSTEM_ADMINISTRATOR} role cannot be changed")
            if name is not None:
                role.name = _check_name(name)
                _check_role_name_free(uow, role.name, role_id)
            if privileges is not None:
                role.privileges = _check_privileges(privileges)
            uow.directory.save_role(role)
            uow.commit()
        return role


def user_summary(user: User, roles: dict[int, SecurityRole]) -> UserSummary:
    assert user.id is not None  # noqa: S101 - stored users have ids
    return UserSummary(
        user.id,
        user.full_name,
        user.email,
        user.is_active,
        _roles(user.role_ids, roles),
        user.options,
        user.password_hash is not None,
        user.business_unit_id,
    )


def _queue(queue: Queue, roles: dict[int, SecurityRole]) -> QueueSummary:
    assert queue.id is not None  # noqa: S101 - stored queues have ids
    return QueueSummary(
        queue.id,
        queue.name,
        queue.email,
        _roles(queue.role_ids, roles),
        queue.options,
        queue.business_unit_id,
        queue.member_ids,
    )


def _roles(role_ids: frozenset[int], roles: dict[int, SecurityRole]) -> list[SecurityRole]:
    return sorted((roles[i] for i in role_ids if i in roles), key=lambda r: r.name)


def require_user(uow: UnitOfWork, user_id: int) -> User:
    user = uow.directory.get_user(user_id)
    if user is None:
        raise NotFoundError(f"no user with id {user_id}")
    return user


def require_queue(uow: UnitOfWork, queue_id: int) -> Queue:
    queue = uow.directory.get_queue(queue_id)
    if queue is None:
        raise NotFoundError(f"no queue with id {queue_id}")
    return queue


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("a name is needed")
    return check_text("name", name.strip(), 200)


def _check_email(email: str) -> str:
    address = normalize_address(check_text("email", email, 320))
    if not is_email_address(address):
        problem = f"{email!r} is not an email address"
        raise FieldValueError({"email": problem}, problem)
    return address


def _check_password(password: str) -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        problem = f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
        raise FieldValueError({"password": problem}, problem)
    check_text("password", password)


def _check_address_free(uow: UnitOfWork, address: str, owner: RecordRef | None) -> None:
    """A user's or queue's address identifies it: no other user or queue may share it."""
    for ref in uow.directory.records_by_address([address]).get(address, []):
        if ref.kind in (RecordKind.USER, RecordKind.QUEUE) and ref != owner:
            raise ConflictError(f"the address {address} belongs to another {ref.kind.value}")


def _check_roles(roles: dict[int, SecurityRole], role_ids: Iterable[int | str]) -> frozenset[int]:
    wanted = frozenset(_role_id(i) for i in role_ids)
    unknown = sorted(wanted - set(roles))
    if unknown:
        raise NotFoundError(f"no security role with id {unknown[0]}")
    return wanted


def _role_id(value: int | str) -> int:
    """Role ids come as numbers from JSON and as text from a form."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        return int(value)
    raise ValidationError(f"{value!r} is not a security role id")


def _check_privileges(privileges: Iterable[Privilege | str]) -> frozenset[Privilege]:
    held = set()
    for privilege in privileges:
        try:
            held.add(Privilege(privilege))
        except ValueError:
            names = ", ".join(p.value for p in Privilege)
            raise ValidationError(f"unknown privilege {privilege!r}; known: {names}") from None
    return frozenset(held)


def _check_levels(
    levels: Mapping[Privilege, AccessLevel] | Mapping[str, str],
) -> dict[Privilege, AccessLevel]:
    checked: dict[Privilege, AccessLevel] = {}
    for privilege, level in levels.items():
        held = next(iter(_check_privileges([privilege])))
        try:
            chosen = AccessLevel(level)
        except ValueError:
            names = ", ".join(x.value for x in AccessLevel)
            raise ValidationError(
                f"{privilege}: unknown access level {level!r}; known: {names}"
            ) from None
        if chosen not in (AccessLevel.NONE, AccessLevel.ORGANIZATION) and held not in LEVELLED:
            # Settings, server profiles and users are the organization's: held or not.
            raise ValidationError(f"{held.value}: only none or organization")
        checked[held] = chosen
    return checked


def _check_role_name_free(uow: UnitOfWork, name: str, role_id: int | None) -> None:
    for other in uow.directory.roles().values():
        if other.name.lower() == name.lower() and other.id != role_id:
            raise ConflictError(f"a security role named {other.name!r} exists")
