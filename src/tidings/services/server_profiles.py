"""Email server profiles: list, create, change and delete, with profile-held passwords kept
write-only and sealed at rest."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

from tidings.domain.credentials import CredentialKey, CredentialScope, Direction
from tidings.domain.errors import ConflictError, FieldValueError, NotFoundError, ValidationError
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ServerProfile, ServerProfileKind, check_server_profile
from tidings.services.changes import apply_changes, check_text
from tidings.services.ports import Clock, SecretBox, UnitOfWork

#: Every field an admin sets; ``id`` is Tidings' own.
EDITABLE = tuple(f.name for f in fields(ServerProfile) if f.name != "id")

#: For each kind, the kind-specific ``options`` it reads (none of them secret).
KIND_OPTIONS: dict[ServerProfileKind, tuple[str, ...]] = {
    ServerProfileKind.IMAP_SMTP: (
        "ca_file",
        "save_sent_copy",
        "sent_folder",
        "token_url",
        "client_id",
        "scope",
    ),
    ServerProfileKind.POP3_SMTP: ("ca_file",),
    ServerProfileKind.EXCHANGE_ONLINE: (
        "tenant_id",
        "client_id",
        "authority_url",
        "graph_url",
        "certificate_thumbprint",
        "ca_file",
        "notification_url",
    ),
    ServerProfileKind.EXCHANGE_SERVER: (
        "ews_url",
        "auth",
        "ca_file",
        "notifications",
        # With auth=oauth: the app registration and where it signs in.
        "tenant_id",
        "client_id",
        "authority_url",
    ),
    # The endpoints differ only for tests or a proxy; the client id lives in the key itself.
    ServerProfileKind.GMAIL: (
        "gmail_url",
        "token_url",
        "ca_file",
        "pubsub_topic",
        "push_audience",
        "push_service_account",
        "push_certs_url",
    ),
}


#: A profile's secret may be a password, a client secret, a service account's JSON key or a
#: certificate with its private key (PEM): a few kilobytes at most.
SECRET_MAX_LENGTH = 16_384


@dataclass(frozen=True)
class ProfileView:
    """A profile as an admin sees it: never a password, only whose user name is kept."""

    profile: ServerProfile
    warnings: list[str]
    mailbox_addresses: list[str]
    #: User names of credentials the profile holds, by direction.
    credential_usernames: dict[Direction, str]


@dataclass(frozen=True)
class ProfileSecret:
    """A user name and password for the profile itself (credentials held by the profile)."""

    username: str
    password: str = field(repr=False)
    direction: Direction = Direction.INCOMING


class ServerProfileService:
    """What an admin does to email server profiles, privileges checked on every call."""

    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], secrets: SecretBox, clock: Clock
    ) -> None:
        self._uow = uow_factory
        self._secrets = secrets
        self._clock = clock

    def list_profiles(self, caller: Caller) -> list[ProfileView]:
        caller.require(Privilege.READ_SERVER_PROFILES)
        with self._uow() as uow:
            return [self._view(uow, p) for p in uow.server_profiles.all()]

    def get(self, caller: Caller, profile_id: int) -> ProfileView:
        caller.require(Privilege.READ_SERVER_PROFILES)
        with self._uow() as uow:
            return self._view(uow, _require(uow, profile_id))

    def create(
        self, caller: Caller, values: Mapping[str, object], secret: ProfileSecret | None = None
    ) -> ProfileView:
        """A new profile from ``values`` (``name`` and ``kind`` at least)."""
        caller.require(Privilege.WRITE_SERVER_PROFILES)
        if not values.get("name") or not values.get("kind"):
            raise ValidationError("a server profile needs a name and a kind")
        base = ServerProfile(name="", kind=ServerProfileKind.IMAP_SMTP)
        profile = check_server_profile(_check_lengths(apply_changes(base, values, EDITABLE)))
        profile.name = profile.name.strip()
        with self._uow() as uow:
            self._check_name_free(uow, profile)
            uow.server_profiles.add(profile)
            if secret is not None:
                self._seal(uow, profile, secret)
            uow.commit()
            return self._view(uow, profile)

    def update(self, caller: Caller, profile_id: int, changes: Mapping[str, object]) -> ProfileView:
        """Change some fields; the whole profile is checked again before it is saved."""
        caller.require(Privilege.WRITE_SERVER_PROFILES)
        with self._uow() as uow:
            profile = apply_changes(_require(uow, profile_id), changes, EDITABLE)
            profile.name = profile.name.strip()
            check_server_profile(_check_lengths(profile))
            self._check_name_free(uow, profile)
            uow.server_profiles.save(profile)
            uow.commit()
            return self._view(uow, profile)

    def set_credentials(self, caller: Caller, profile_id: int, secret: ProfileSecret) -> None:
        """Keep the profile's own user name and password, the password sealed."""
        caller.require(Privilege.WRITE_SERVER_PROFILES)
        with self._uow() as uow:
            self._seal(uow, _require(uow, profile_id), secret)
            uow.commit()

    def delete(self, caller: Caller, profile_id: int) -> None:
        """Remove a profile no mailbox uses, and the credentials it held."""
        caller.require(Privilege.WRITE_SERVER_PROFILES)
        with self._uow() as uow:
            profile = _require(uow, profile_id)
            users = _addresses_using(uow, profile_id)
            if users:
                shown = ", ".join(users[:5]) + (" …" if len(users) > 5 else "")
                raise ConflictError(
                    f"the server profile {profile.name!r} is used by {len(users)} mailbox(es) "
                    f"({shown}): move them to another profile first"
                )
            for direction in Direction:
                uow.credentials.delete(_key(profile_id, direction))
            uow.server_profiles.delete(profile_id)
            uow.commit()

    def _seal(self, uow: UnitOfWork, profile: ServerProfile, secret: ProfileSecret) -> None:
        if not secret.username.strip() or not secret.password:
            raise ValidationError("a user name and a password are both needed")
        check_text("username", secret.username, 320)
        check_text("password", secret.password, SECRET_MAX_LENGTH)
        assert profile.id is not None  # noqa: S101 - stored profiles have ids
        sealed = self._secrets.seal(secret.password)
        key = _key(profile.id, secret.direction)
        uow.credentials.save(key, secret.username.strip(), sealed, self._clock.now())

    def _check_name_free(self, uow: UnitOfWork, profile: ServerProfile) -> None:
        for other in uow.server_profiles.all():
            if other.name.lower() == profile.name.lower() and other.id != profile.id:
                raise ConflictError(f"a server profile named {other.name!r} exists")

    def _view(self, uow: UnitOfWork, profile: ServerProfile) -> ProfileView:
        assert profile.id is not None  # noqa: S101 - stored profiles have ids
        usernames = {}
        for direction in Direction:
            found = uow.credentials.get(_key(profile.id, direction))
            if found is not None:
                usernames[direction] = found[0]
        return ProfileView(
            profile, profile_warnings(profile), _addresses_using(uow, profile.id), usernames
        )


def profile_warnings(profile: ServerProfile) -> list[str]:
    """What an admin should know of a profile's settings: risky choices, unused options."""
    warnings = profile.warnings()
    for name in sorted(set(profile.options) - set(KIND_OPTIONS[profile.kind])):
        warnings.append(f"the option {name!r} is not used by {profile.kind.value} profiles")
    return warnings


def _check_lengths(profile: ServerProfile) -> ServerProfile:
    """What the database keeps: names up to 200 characters, host names up to 255, times
    that stay in range when converted to UTC."""
    check_text("name", profile.name, 200)
    check_text("incoming_host", profile.incoming_host, 255)
    check_text("outgoing_host", profile.outgoing_host, 255)
    after = profile.process_email_received_after
    if after is not None and not 1970 <= after.year <= 9998:
        raise FieldValueError(
            {"process_email_received_after": "must be between 1970 and 9998"},
            "'process email received after' must be between 1970 and 9998",
        )
    return profile


def _key(profile_id: int, direction: Direction) -> CredentialKey:
    return CredentialKey(CredentialScope.SERVER_PROFILE, profile_id, direction)


def _addresses_using(uow: UnitOfWork, profile_id: int) -> list[str]:
    return [m.address for m in uow.mailboxes.all() if m.profile_id == profile_id]


def _require(uow: UnitOfWork, profile_id: int) -> ServerProfile:
    profile = uow.server_profiles.get(profile_id)
    if profile is None:
        raise NotFoundError(f"no server profile with id {profile_id}")
    return profile
