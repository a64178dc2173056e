"""Setting an organization up: server profiles, users and mailboxes, as an operator does
from the command line before the console exists for it."""

from __future__ import annotations

from collections.abc import Callable

from tidings.domain.errors import ConflictError, NotFoundError, ValidationError
from tidings.domain.mailbox import Mailbox
from tidings.domain.people import (
    SYSTEM_ADMINISTRATOR,
    TRACKING_ROLE,
    SecurityRole,
    User,
    standard_roles,
)
from tidings.domain.records import is_email_address
from tidings.domain.server_profile import ServerProfile, check_server_profile
from tidings.domain.settings import EmailConfiguration
from tidings.services.business_units import DEFAULT_ROOT_NAME, ensure_root_unit
from tidings.services.ports import PasswordHasher, UnitOfWork

ROLE_NAMES = {"admin": SYSTEM_ADMINISTRATOR, "tracking": TRACKING_ROLE}


class SetupService:
    """Creates what sync needs; every input is validated before anything is stored."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], hasher: PasswordHasher) -> None:
        self._uow = uow_factory
        self._hasher = hasher

    def add_server_profile(self, profile: ServerProfile) -> int:
        check_server_profile(profile)
        with self._uow() as uow:
            self._ensure_organization(uow)
            if any(p.name == profile.name for p in uow.server_profiles.all()):
                raise ConflictError(f"a server profile named {profile.name!r} exists")
            profile_id = uow.server_profiles.add(profile)
            uow.commit()
        return profile_id

    def add_user(
        self, full_name: str, email: str, roles: list[str], password: str | None = None
    ) -> int:
        if not full_name.strip() or not is_email_address(email.strip().lower()):
            raise ValidationError("a user needs a name and a valid email address")
        unknown = [r for r in roles if r not in ROLE_NAMES]
        if unknown:
            raise ValidationError(f"unknown role {unknown[0]!r}; use {', '.join(ROLE_NAMES)}")
        with self._uow() as uow:
            # Until an administrator names it, the root unit is named after the first
            # user's mail domain: the organization's own.
            organization = email.strip().lower().rpartition("@")[2]
            by_name = {
                role.name: role_id
                for role_id, role in self._ensure_organization(uow, organization).items()
            }
            if uow.directory.get_user_by_email(email) is not None:
                raise ConflictError(f"a user with the address {email} exists")
            user = User(
                full_name.strip(),
                email,
                frozenset(by_name[ROLE_NAMES[r]] for r in roles),
                password_hash=self._hasher.hash(password) if password else None,
            )
            user_id = uow.directory.add_user(user)
            uow.commit()
        return user_id

    def add_mailbox(self, address: str, owner_email: str, profile_name: str) -> int:
        with self._uow() as uow:
            owner = uow.directory.get_user_by_email(owner_email)
            if owner is None:
                raise NotFoundError(f"no user with the address {owner_email}")
            profile = next((p for p in uow.server_profiles.all() if p.name == profile_name), None)
            if profile is None:
                raise NotFoundError(f"no server profile named {profile_name!r}")
            if uow.mailboxes.get_by_address(address) is not None:
                raise ConflictError(f"a mailbox with the address {address} exists")
            config = uow.settings.get()
            mailbox = Mailbox(
                address,
                owner.ref,
                profile.id,
                config.default_incoming_method,
                config.default_outgoing_method,
            )
            mailbox_id = uow.mailboxes.add(mailbox)
            uow.commit()
        return mailbox_id

    def _ensure_organization(
        self, uow: UnitOfWork, name: str = DEFAULT_ROOT_NAME
    ) -> dict[int, SecurityRole]:
        """The standard roles, the root business unit and default settings exist from the
        first setup step on."""
        ensure_root_unit(uow, name)
        roles = uow.directory.roles()
        if not roles:
            uow.settings.save(EmailConfiguration())
            for role in standard_roles():
                uow.directory.add_role(role)
            roles = uow.directory.roles()
        return roles
