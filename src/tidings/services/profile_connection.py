"""Test connection on an email server profile: can its incoming and outgoing servers be
reached, over TLS, and do they accept a login?

It logs in as Test & Enable would, with the credential of a mailbox using the profile, the
profile's own, or a user name and password typed for the test alone; nothing is recorded and
no mailbox changes. The password typed is used once and kept nowhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tidings.domain.credentials import Credential, Direction
from tidings.domain.errors import NotFoundError, ValidationError
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.domain.testing import ConnectionCheck
from tidings.services.credentials import load_credential, with_client_secret
from tidings.services.ports import SecretBox, UnitOfWork

if TYPE_CHECKING:  # mailboxes.py offers this test, so it imports this module
    from tidings.services.mailboxes import ConnectionTester


@dataclass(frozen=True)
class TestLogin:
    """Whose login to try: a mailbox's (``mailbox_id``) or one typed for the test."""

    __test__ = False  # a value, not a pytest test class

    mailbox_id: int | None = None
    username: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True)
class ProfileTestReport:
    """Each direction's result, and as whom it logged in (never the password)."""

    incoming: ConnectionCheck
    outgoing: ConnectionCheck
    tried_as: str


async def test_profile_connection(
    caller: Caller,
    profile_id: int,
    login: TestLogin,
    *,
    uow_factory: Callable[[], UnitOfWork],
    secrets: SecretBox,
    tester_for: Callable[[ServerProfileKind], ConnectionTester],
) -> ProfileTestReport:
    """Check both directions of the profile with ``login``."""
    caller.require(Privilege.WRITE_SERVER_PROFILES)
    with uow_factory() as uow:
        profile = uow.server_profiles.get(profile_id)
        if profile is None:
            raise NotFoundError(f"no email server profile with id {profile_id}")
        incoming, outgoing, address = _logins(uow, secrets, profile, login)
    tester = tester_for(profile.kind)
    return ProfileTestReport(
        await tester.check_incoming(profile, incoming, address),
        await tester.check_outgoing(profile, outgoing, address),
        address,
    )


def _logins(
    uow: UnitOfWork, secrets: SecretBox, profile: ServerProfile, login: TestLogin
) -> tuple[Credential | None, Credential | None, str]:
    """The incoming and outgoing credentials to try, and the address they test."""
    if login.username.strip() or login.password:
        if not (login.username.strip() and login.password):
            raise ValidationError("enter both a user name and a password to test with them")
        typed = with_client_secret(
            Credential(login.username.strip(), login.password),
            profile,
            uow.credentials.get,
            secrets.open,
        )
        return typed, typed, login.username.strip()
    if login.mailbox_id is None:
        raise ValidationError("choose a mailbox, or enter a user name and password")
    mailbox = uow.mailboxes.get(login.mailbox_id)
    if mailbox is None or mailbox.profile_id != profile.id:
        raise ValidationError("choose a mailbox that uses this profile")
    return (
        load_credential(uow, secrets, profile, login.mailbox_id, Direction.INCOMING),
        load_credential(uow, secrets, profile, login.mailbox_id, Direction.OUTGOING),
        mailbox.address,
    )
