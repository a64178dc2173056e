"""Test helpers that build real data: an organization in a real database, and raw emails."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from typing import Any

from sqlalchemy import Engine, event

from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.bootstrap import Tidings
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.mailbox import Mailbox, TestStatus
from tidings.domain.message import MessageOrigin
from tidings.domain.people import (
    TRACKING_ROLE,
    Caller,
    PersonalOptions,
    Privilege,
    Queue,
    TrackIncoming,
    User,
    standard_roles,
)
from tidings.domain.records import Account, Contact, Lead, Opportunity, RecordKind, RecordRef
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind
from tidings.domain.settings import EmailConfiguration
from tidings.services.tracking.results import IngestResult

_TICK = timedelta(seconds=1)


class TickingClock:
    """A clock that moves one second each time it is read: ordered, repeatable timestamps.

    Safe to share between threads: a sync engine or server runs in a thread of its own and
    reads the clock while the test moves it. Unlocked, a read that began before ``advance``
    wrote its own (older) time back after it, and the test's move was lost.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self._now += _TICK
            return self._now

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        with self._lock:
            self._now += step


def wall_clock() -> TickingClock:
    """A ticking clock that starts now: for tests where a vendor's fake keeps real time
    (Graph subscriptions expire by the wall clock, and Tidings renews them by its own)."""
    return TickingClock(datetime.now(UTC))


class ManualClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        step = timedelta(**delta)
        with self._lock:  # two threads moving it both count
            self._now += step


def make_email(
    *,
    sender: str = "maria@contoso.example",
    to: str | list[str] = "dana@northwind.example",
    cc: str | list[str] | None = None,
    subject: str = "Quote for 500 seats",
    message_id: str | None = "<m1@contoso.example>",
    in_reply_to: str | None = None,
    references: str | None = None,
    body: str = "Hello Dana,\n\ncould you send the quote?\n\nMaria\n",
    html: str | None = None,
    attachments: list[tuple[str, bytes, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A raw email as a mail client would write it."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to if isinstance(to, str) else ", ".join(to)
    if cc:
        msg["Cc"] = cc if isinstance(cc, str) else ", ".join(cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime(2026, 11, 19, 10, 30, tzinfo=UTC))
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    if html:
        msg.add_alternative(html, subtype="html")
    for filename, content, mime in attachments or []:
        maintype, subtype = mime.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=SMTP)


@dataclass
class Org:
    """Northwind-like organization stored in a real database, with handles tests use."""

    tidings: Tidings
    roles: dict[str, int] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    mailboxes: dict[str, int] = field(default_factory=dict)
    records: dict[str, RecordRef] = field(default_factory=dict)
    _uid: int = 0

    @classmethod
    def create(cls, tidings: Tidings, config: EmailConfiguration | None = None) -> Org:
        org = cls(tidings)
        with tidings.uow() as uow:
            uow.settings.save(config or EmailConfiguration())
            org.roles = {r.name: uow.directory.add_role(r) for r in standard_roles()}
            d = uow.directory
            contoso = d.add_account(Account("Contoso", ("info@contoso.example",)))
            maria = d.add_contact(Contact("Maria Garcia", ("maria@contoso.example",), contoso))
            tom = d.add_contact(Contact("Tom Becker", ("tom@contoso.example",), contoso))
            lena = d.add_lead(Lead("Lena Fischer", "Tailspin", ("lena@tailspin.example",)))
            deal = d.add_opportunity(Opportunity("Contoso: 500 seats", contoso))
            org.records = {
                "contoso": RecordRef(RecordKind.ACCOUNT, contoso),
                "maria": RecordRef(RecordKind.CONTACT, maria),
                "tom": RecordRef(RecordKind.CONTACT, tom),
                "lena": RecordRef(RecordKind.LEAD, lena),
                "deal": RecordRef(RecordKind.OPPORTUNITY, deal),
            }
            uow.commit()
        org.add_user("dana", TrackIncoming.ALL)
        return org

    def add_user(
        self,
        name: str,
        option: TrackIncoming = TrackIncoming.ALL,
        *,
        tracking_role: bool = True,
        approved: bool = True,
        enabled: bool = True,
        create_contacts: bool = False,
    ) -> User:
        """A user ``name@northwind.example`` with a mailbox in the given state."""
        roles = frozenset({self.roles[TRACKING_ROLE]}) if tracking_role else frozenset()
        user = User(
            name.title(),
            f"{name}@northwind.example",
            roles,
            PersonalOptions(option, create_contacts),
        )
        with self.tidings.uow() as uow:
            uow.directory.add_user(user)
            self.mailboxes[name] = uow.mailboxes.add(
                self._mailbox(user.email, user.ref, approved, enabled)
            )
            uow.commit()
        self.users[name] = user
        return user

    def add_queue(self, name: str, option: TrackIncoming = TrackIncoming.ALL) -> Queue:
        queue = Queue(
            name.title(), f"{name}@northwind.example", frozenset(), PersonalOptions(option)
        )
        with self.tidings.uow() as uow:
            uow.directory.add_queue(queue)
            self.mailboxes[name] = uow.mailboxes.add(
                self._mailbox(queue.email, queue.ref, True, True)
            )
            uow.commit()
        return queue

    @staticmethod
    def _mailbox(address: str, owner: RecordRef, approved: bool, enabled: bool) -> Mailbox:
        mailbox = Mailbox(address, owner)
        if approved:
            mailbox.approve_email()
        if enabled:
            mailbox.record_test(incoming=TestStatus.SUCCESS, outgoing=TestStatus.SUCCESS, alerts=[])
        return mailbox

    def use_profile(self, profile: ServerProfile, passwords: dict[str, str]) -> int:
        """Tie each named mailbox to a new server profile, with its login kept (sealed)."""
        admin = Caller(next(iter(self.users.values())), frozenset(Privilege))
        with self.tidings.uow() as uow:
            profile_id = uow.server_profiles.add(profile)
            for name in passwords:
                mailbox = uow.mailboxes.get(self.mailboxes[name])
                assert mailbox is not None
                mailbox.profile_id = profile_id
                uow.mailboxes.save(mailbox)
            uow.commit()
        for name, password in passwords.items():
            address = f"{name}@northwind.example"
            self.tidings.mailboxes.set_credentials(admin, self.mailboxes[name], address, password)
        return profile_id

    def set_track_incoming(self, name: str, option: TrackIncoming) -> None:
        """A user's personal option *Track incoming email*."""
        user = self.users[name]
        user.options = PersonalOptions(option)
        with self.tidings.uow() as uow:
            uow.directory.save_user(user)
            uow.commit()

    def configure(self, **changes: object) -> None:
        with self.tidings.uow() as uow:
            uow.settings.save(uow.settings.get().evolve(**changes))
            uow.commit()

    def add_folder_rule(
        self, mailbox: str, folder: str, regarding: RecordRef | None = None
    ) -> None:
        with self.tidings.uow() as uow:
            mailbox_id = self.mailboxes[mailbox]
            rules = uow.mailboxes.folder_rules(mailbox_id)
            rules.append(FolderTrackingRule(mailbox_id, folder, regarding))
            uow.mailboxes.replace_folder_rules(mailbox_id, rules)
            uow.commit()

    def deliver(self, raw: bytes, mailbox: str = "dana", folder: str = "INBOX") -> IngestResult:
        """Offer ``raw`` as the next UID of ``mailbox``/``folder``."""
        self._uid += 1
        origin = MessageOrigin(self.mailboxes[mailbox], folder, 1, str(self._uid))
        return self.tidings.ingest.ingest(raw, origin)


def dovecot_profile(
    server: DovecotServer,
    smtp: SmtpServer | None = None,
    *,
    name: str = "Dovecot",
    trusted: bool = True,
    **fields: Any,
) -> ServerProfile:
    """An IMAP profile for a test Dovecot: implicit TLS, verified against its own CA (unless
    not ``trusted``); with ``smtp``, sending to that plain test SMTP server."""
    outgoing: dict[str, Any] = (
        {}
        if smtp is None
        else {
            "outgoing_host": smtp.host,
            "outgoing_port": smtp.port,
            "outgoing_security": ConnectionSecurity.NONE,
            "allow_insecure": True,
        }
    )
    return ServerProfile(
        name=name,
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="127.0.0.1",
        incoming_port=server.imaps_port,
        incoming_security=ConnectionSecurity.TLS,
        options={"ca_file": str(server.ca_file)} if trusted else {},
        **({"outgoing_host": "127.0.0.1"} | outgoing | fields),
    )


def dovecot_pop3_profile(server: DovecotServer) -> ServerProfile:
    """A POP3 profile for a test Dovecot: POP3S, verified against its own CA."""
    return ServerProfile(
        name="Dovecot POP3",
        kind=ServerProfileKind.POP3_SMTP,
        incoming_host="127.0.0.1",
        incoming_port=server.pop3s_port,
        incoming_security=ConnectionSecurity.TLS,
        outgoing_host="127.0.0.1",
        options={"ca_file": str(server.ca_file)},
    )


@contextmanager
def statements_run(engine: Engine, starting: str = "") -> Iterator[list[str]]:
    """The text of each statement ``engine`` runs meanwhile that starts with ``starting``
    (``"SELECT"``: the queries, without the transactions SQLite's driver begins)."""
    run: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith(starting):
            run.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield run
    finally:
        event.remove(engine, "before_cursor_execute", note)
