"""Mailbox administration: Approve Email, credentials, and Test & Enable for many at once.

Test & Enable connects with the real settings, records the incoming and outgoing results
with messages an admin can act on, keeps them as alerts on the mailbox, and enables the
mailbox only when every method in use passed (as Dynamics 365 does).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tidings.domain.access_levels import Scope
from tidings.domain.credentials import (
    Credential,
    CredentialKey,
    CredentialScope,
    Direction,
)
from tidings.domain.errors import NotFoundError, ValidationError
from tidings.domain.mailbox import Alert, AlertLevel, Mailbox, TestStatus
from tidings.domain.mailbox_views import MailboxView, in_view
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import normalize_address
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.domain.settings import SyncMethod
from tidings.domain.testing import ConnectionCheck
from tidings.services.credentials import load_credential
from tidings.services.ports import Clock, SecretBox, UnitOfWork
from tidings.services.profile_connection import (
    ProfileTestReport,
    TestLogin,
    test_profile_connection,
)

#: Mailboxes tested at the same time by one Test & Enable, whatever their profiles allow:
#: each test is a TLS handshake and a login or two, and a thousand at once would only queue.
MAX_PARALLEL_TESTS = 50


class ConnectionTester(Protocol):
    """Logs in to a profile's servers as sync would."""

    async def check_incoming(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck: ...

    async def check_outgoing(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck: ...


@dataclass(frozen=True)
class TestReport:
    """The outcome of Test & Enable for one mailbox."""

    __test__ = False  # a result type, not a pytest test class

    mailbox_id: int
    address: str
    incoming: ConnectionCheck
    outgoing: ConnectionCheck
    enabled: bool


@dataclass(frozen=True)
class Selection:
    """Mailboxes chosen by address or by view, and the addresses no mailbox has."""

    mailboxes: list[Mailbox]
    unknown: list[str]


_NOT_RUN = ConnectionCheck(TestStatus.NOT_RUN, "not run: the sync method is none")


class MailboxAdminService:
    """What an admin does to mailboxes in the console or the API."""

    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        secrets: SecretBox,
        tester: ConnectionTester,
        clock: Clock,
        api_testers: Mapping[ServerProfileKind, ConnectionTester] | None = None,
    ) -> None:
        self._uow = uow_factory
        self._secrets = secrets
        self._tester = tester
        #: Testers of the kinds reached through a mail API (Graph, Gmail, EWS).
        self._api_testers = dict(api_testers or {})
        self._clock = clock

    def approve_email(self, caller: Caller, mailbox_ids: Sequence[int]) -> list[Mailbox]:
        """Confirm that each address belongs to its owner; needs the approving privilege.

        All are approved in one transaction, or none if one of them is missing.
        """
        scope = caller.scope(Privilege.APPROVE_EMAIL)
        with self._uow() as uow:
            approved = []
            for mailbox in (_require(uow, i, scope) for i in mailbox_ids):
                if not mailbox.is_approved:
                    mailbox.approve_email()
                    uow.mailboxes.save(mailbox)
                approved.append(mailbox)
            uow.commit()
        return approved

    def disable(self, caller: Caller, mailbox_ids: Sequence[int]) -> list[Mailbox]:
        """Stop server-side synchronization of mailboxes until Test & Enable passes again,
        each with an alert naming who disabled it; all in one transaction."""
        scope = caller.scope(Privilege.WRITE_MAILBOXES)
        now = self._clock.now()
        with self._uow() as uow:
            mailboxes = [_require(uow, i, scope) for i in mailbox_ids]
            for mailbox in mailboxes:
                if mailbox.enabled and mailbox.id is not None:
                    mailbox.disable()
                    uow.mailboxes.save(mailbox)
                    text = f"Disabled by {caller.user.full_name}"
                    uow.mailboxes.add_alert(mailbox.id, Alert(AlertLevel.INFORMATION, text, now))
            uow.commit()
        return mailboxes

    def select(
        self, caller: Caller, addresses: Sequence[str] | None, view: MailboxView
    ) -> Selection:
        """The mailboxes of ``addresses`` (in their order), or with ``None`` every mailbox
        in ``view``; read in two queries however many there are."""
        scope = caller.scope(Privilege.READ_MAILBOXES)
        with self._uow() as uow:
            stored = uow.mailboxes.all(scope=scope)
        if addresses is None:
            return Selection([m for m in stored if in_view(m, view)], [])
        by_address = {m.address: m for m in stored}
        found: list[Mailbox] = []
        unknown: list[str] = []
        for address in dict.fromkeys(normalize_address(a) for a in addresses if a.strip()):
            mailbox = by_address.get(address)
            if mailbox is None:
                unknown.append(address)
            else:
                found.append(mailbox)
        return Selection(found, unknown)

    def choose(
        self,
        caller: Caller,
        view: MailboxView,
        *,
        ids: Sequence[int] | None = None,
        addresses: Sequence[str] | None = None,
    ) -> list[int]:
        """The ids of a bulk action's mailboxes, named by id or by address, or with
        neither every mailbox in ``view``. Any unknown one refuses the whole choice, naming
        each, before anything is done."""
        if ids is None:
            selection = self.select(caller, addresses, view)
            if selection.unknown:
                listed = ", ".join(selection.unknown)
                raise NotFoundError(f"no mailbox with the address {listed}")
            return [m.id for m in selection.mailboxes if m.id is not None]
        scope = caller.scope(Privilege.READ_MAILBOXES)
        wanted = list(dict.fromkeys(ids))
        with self._uow() as uow:
            known = {m.id for m in uow.mailboxes.all(scope=scope)}
        missing = [str(i) for i in wanted if i not in known]
        if missing:
            raise NotFoundError(f"no mailbox with id {', '.join(missing)}")
        return wanted

    def set_credentials(
        self,
        caller: Caller,
        mailbox_id: int,
        username: str,
        password: str,
        direction: Direction = Direction.INCOMING,
    ) -> None:
        """Keep a mailbox's user name and password, the password encrypted."""
        scope = caller.scope(Privilege.WRITE_MAILBOXES)
        if not username.strip() or not password:
            raise ValidationError("a user name and a password are both needed")
        with self._uow() as uow:
            _require(uow, mailbox_id, scope)
            key = CredentialKey(CredentialScope.MAILBOX, mailbox_id, direction)
            sealed = self._secrets.seal(password)
            uow.credentials.save(key, username.strip(), sealed, self._clock.now())
            uow.commit()

    def rotate_credentials(self) -> int:
        """Seal every stored secret again with the newest key — mailbox and profile
        credentials, and webhooks' signing secrets — in one transaction, so that the old
        keys can then be dropped; the count rotated. A secret no configured key opens stops
        the rotation with nothing changed."""
        with self._uow() as uow:
            credentials = uow.credentials.all_sealed()
            webhooks = uow.webhooks.all_sealed()
            for credential_id, secret in credentials:
                uow.credentials.replace_sealed(credential_id, self._secrets.rotate(secret))
            for subscription_id, secret in webhooks:
                uow.webhooks.replace_sealed(subscription_id, self._secrets.rotate(secret))
            uow.commit()
        return len(credentials) + len(webhooks)

    async def test_profile(
        self, caller: Caller, profile_id: int, login: TestLogin
    ) -> ProfileTestReport:
        """Test connection of a server profile, as Test & Enable connects, changing nothing."""
        return await test_profile_connection(
            caller,
            profile_id,
            login,
            uow_factory=self._uow,
            secrets=self._secrets,
            tester_for=lambda kind: self._api_testers.get(kind, self._tester),
        )

    async def test_and_enable(
        self,
        caller: Caller,
        mailbox_ids: Sequence[int],
        on_report: Callable[[TestReport], None] | None = None,
    ) -> list[TestReport]:
        """Test every mailbox and enable those that pass; the reports in the order of
        ``mailbox_ids``, each also handed to ``on_report`` as soon as it is known.

        Mailboxes are tested concurrently, but never more of one server profile at once
        than its *maximum concurrent connections* (a test holds one connection at a time:
        incoming, then outgoing), nor more than ``MAX_PARALLEL_TESTS`` in all. A missing
        mailbox is refused before any is tested.
        """
        scope = caller.scope(Privilege.WRITE_MAILBOXES)
        with self._uow() as uow:
            profile_of = {i: _require(uow, i, scope).profile_id for i in mailbox_ids}
            limits = {p.id: p.max_concurrent_connections for p in uow.server_profiles.all()}
        gate = asyncio.Semaphore(MAX_PARALLEL_TESTS)
        per_profile = {profile_id: asyncio.Semaphore(limit) for profile_id, limit in limits.items()}
        unlimited = contextlib.nullcontext()

        async def one(mailbox_id: int) -> TestReport:
            turn = per_profile.get(profile_of[mailbox_id]) or unlimited
            async with turn, gate:
                report = await self._test_one(mailbox_id)
            if on_report is not None:
                on_report(report)
            return report

        return list(await asyncio.gather(*(one(i) for i in mailbox_ids)))

    def queue_test_and_enable(
        self, caller: Caller, mailbox_ids: Sequence[int]
    ) -> list[Mailbox] | None:
        """Where workers share a task queue (PostgreSQL), Test & Enable as one task per
        mailbox, never more of one profile tested at once across the workers than its
        maximum concurrent connections; the mailboxes queued, in the order given. None
        where there is no queue: the caller tests them itself (``test_and_enable``).

        As ``test_and_enable``, a missing mailbox (or one out of reach) refuses them all
        before any is queued."""
        scope = caller.scope(Privilege.WRITE_MAILBOXES)
        with self._uow() as uow:
            if not uow.jobs.available:
                return None
            mailboxes = [_require(uow, i, scope) for i in dict.fromkeys(mailbox_ids)]
            limits = {p.id: p.max_concurrent_connections for p in uow.server_profiles.all()}
            for mailbox in mailboxes:
                assert mailbox.id is not None  # noqa: S101 - stored mailboxes have ids
                connections = limits.get(mailbox.profile_id, 1) if mailbox.profile_id else 1
                uow.jobs.test_mailbox(mailbox.id, mailbox.profile_id, connections)
            uow.commit()
        return mailboxes

    async def test_queued(self, mailbox_id: int) -> TestReport | None:
        """Test & Enable of one mailbox as a worker's task (PostgreSQL), recorded on the
        mailbox as when run in the request; None when the mailbox was deleted since."""
        try:
            return await self._test_one(mailbox_id)
        except NotFoundError:
            return None

    async def test_failed(self, mailbox_id: int, reason: str) -> None:
        """A queued Test & Enable that could not run: the mailbox's alert says why."""
        text = f"Test & Enable could not run: {reason}; run it again"
        alert = Alert(AlertLevel.ERROR, text, self._clock.now())

        def record() -> None:
            with self._uow() as uow:
                if uow.mailboxes.get(mailbox_id) is not None:
                    uow.mailboxes.add_alert(mailbox_id, alert)
                    uow.commit()

        await asyncio.to_thread(record)

    async def _test_one(self, mailbox_id: int) -> TestReport:
        with self._uow() as uow:
            mailbox = _require(uow, mailbox_id)
            profile = uow.server_profiles.get(mailbox.profile_id) if mailbox.profile_id else None
            incoming_credential = outgoing_credential = None
            if profile is not None:
                incoming_credential = load_credential(
                    uow, self._secrets, profile, mailbox_id, Direction.INCOMING
                )
                outgoing_credential = load_credential(
                    uow, self._secrets, profile, mailbox_id, Direction.OUTGOING
                )
        if profile is None:
            missing = ConnectionCheck.failed("no email server profile: choose one", True)
            incoming = outgoing = missing
        else:
            incoming = outgoing = _NOT_RUN
            tester = self._api_testers.get(profile.kind, self._tester)
            if mailbox.incoming_method is SyncMethod.SERVER_SIDE_SYNC:
                incoming = await tester.check_incoming(
                    profile, incoming_credential, mailbox.address
                )
            if mailbox.outgoing_method is SyncMethod.SERVER_SIDE_SYNC:
                outgoing = await tester.check_outgoing(
                    profile, outgoing_credential, mailbox.address
                )
        return self._record(mailbox_id, incoming, outgoing)

    def _record(
        self, mailbox_id: int, incoming: ConnectionCheck, outgoing: ConnectionCheck
    ) -> TestReport:
        now = self._clock.now()
        alerts = [
            Alert(
                AlertLevel.ERROR if check.status is TestStatus.FAILURE else AlertLevel.INFORMATION,
                check.message,
                now,
            )
            for check in (incoming, outgoing)
            if check.status is not TestStatus.NOT_RUN
        ]
        with self._uow() as uow:
            mailbox = _require(uow, mailbox_id)
            mailbox.record_test(incoming=incoming.status, outgoing=outgoing.status, alerts=[])
            uow.mailboxes.save(mailbox)
            for alert in alerts:
                uow.mailboxes.add_alert(mailbox_id, alert)
            if mailbox.enabled:
                uow.mailboxes.add_alert(
                    mailbox_id, Alert(AlertLevel.INFORMATION, "Test & Enable passed: enabled", now)
                )
            uow.commit()
        return TestReport(mailbox_id, mailbox.address, incoming, outgoing, mailbox.enabled)


def _require(uow: UnitOfWork, mailbox_id: int, scope: Scope | None = None) -> Mailbox:
    mailbox = uow.mailboxes.get(mailbox_id, scope=scope)
    if mailbox is None:
        raise NotFoundError(f"no mailbox with id {mailbox_id}")
    return mailbox
