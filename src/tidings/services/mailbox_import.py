"""Setting up many users and mailboxes at once from a CSV or JSON file.

Each row names a user (created when new), the user's mailbox, its server profile (by
name), its sync methods and, optionally, the credentials it logs in with; passwords are
sealed as they are read and never appear in a report or an error. The columns are listed
in ``COLUMNS`` and in docs/admin.md.

Every row is validated before any is written, and every problem is reported with its row
number and field. By default one bad row means nothing is written; ``skip_invalid``
writes the good rows and reports the bad ones. What exists already is not created again:
a row whose mailbox address is stored for the same user is reported as ``exists``, or
changed to match the row with ``update``. Everything is read in a few queries and written
in one transaction, whatever the number of rows.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, TypeVar

from tidings.domain.credentials import CredentialKey, CredentialScope, Direction
from tidings.domain.errors import ValidationError
from tidings.domain.mailbox import Mailbox
from tidings.domain.people import (
    SYSTEM_ADMINISTRATOR,
    TRACKING_ROLE,
    Caller,
    PersonalOptions,
    Privilege,
    TrackIncoming,
    User,
)
from tidings.domain.records import (
    MAX_ADDRESS_LENGTH,
    RecordKind,
    RecordRef,
    is_email_address,
    normalize_address,
)
from tidings.domain.server_profile import CredentialSource, ServerProfile
from tidings.domain.settings import SyncMethod
from tidings.services.changes import check_text
from tidings.services.import_formats import ImportFormat, Row, read_rows
from tidings.services.mailbox_setup import untest
from tidings.services.ports import Clock, SecretBox, UnitOfWork
from tidings.services.server_profiles import SECRET_MAX_LENGTH

#: The columns (CSV) or keys (JSON) of a row, each with what it holds.
COLUMNS: dict[str, str] = {
    "full_name": "the user's full name (needed when the user is new)",
    "email": "the user's email address (required)",
    "track_incoming": "the user's Track incoming email option (default: the user's current "
    "one, for a new user email_messages_in_response_to_email)",
    "roles": "security roles of a new user: tracking, admin, both (separated by ; or "
    "spaces) or none (default: tracking)",
    "address": "the mailbox's address (default: the user's email address)",
    "profile": "the email server profile's name (required)",
    "incoming_method": "server_side_synchronization or none (default: the organization's)",
    "outgoing_method": "server_side_synchronization or none (default: the organization's)",
    "username": "the user name the mailbox logs in with (default: its address)",
    "password": "the mailbox's password, or its refresh token under OAuth (sealed at once)",
    "outgoing_username": "for profiles whose outgoing server has other credentials",
    "outgoing_password": "for profiles whose outgoing server has other credentials",
}

ROLE_NAMES = {"tracking": TRACKING_ROLE, "admin": SYSTEM_ADMINISTRATOR}
#: Problems listed in a report; more are counted, not listed.
MAX_REPORTED_PROBLEMS = 1000
MAX_NAME_LENGTH = 200

_E = TypeVar("_E", bound=enum.StrEnum)


class RowResult(enum.StrEnum):
    """What became of one row's user or mailbox."""

    CREATED = "created"
    EXISTS = "exists"
    UPDATED = "updated"
    INVALID = "invalid"


@dataclass(frozen=True)
class RowProblem:
    """Why a row cannot be imported: its number (the first row after a CSV's header, or
    the first object of a JSON file, is 1), the field at fault and what is wrong."""

    row: int
    field: str
    reason: str

    def describe(self) -> str:
        where = f"row {self.row}" + (f", {self.field}" if self.field else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class RowOutcome:
    """What an import did (or would do) with one good row."""

    row: int
    email: str
    address: str
    user: RowResult
    mailbox: RowResult
    mailbox_id: int | None = None


@dataclass
class MailboxImportReport:
    """The whole import: every row's outcome, every problem, and whether it was written."""

    dry_run: bool
    skip_invalid: bool
    update: bool
    rows: int = 0
    outcomes: list[RowOutcome] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    invalid_rows: int = 0
    committed: bool = False

    def count(self, part: str, result: RowResult) -> int:
        return sum(1 for o in self.outcomes if getattr(o, part) is result)

    def _problem(self, row: int, name: str, reason: str) -> None:
        if len(self.problems) < MAX_REPORTED_PROBLEMS:
            self.problems.append(RowProblem(row, name, reason))


@dataclass
class _Planned:
    """A row that passed validation, with what it will do."""

    row: int
    email: str
    full_name: str
    track_incoming: TrackIncoming | None
    role_ids: frozenset[int] | None
    address: str
    profile: ServerProfile
    incoming: SyncMethod | None
    outgoing: SyncMethod | None
    credentials: dict[Direction, tuple[str, str]] = field(repr=False)
    user_ref: RecordRef | None = None
    mailbox: Mailbox | None = None


class MailboxImportService:
    """Reads a file once, checks every row against the others and against storage, then
    writes the good ones in one transaction."""

    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], secrets: SecretBox, clock: Clock
    ) -> None:
        self._uow = uow_factory
        self._secrets = secrets
        self._clock = clock

    def import_mailboxes(
        self,
        caller: Caller,
        source: IO[bytes],
        fmt: ImportFormat,
        *,
        skip_invalid: bool = False,
        update: bool = False,
        dry_run: bool = False,
    ) -> MailboxImportReport:
        """Create (or with ``update`` change) the users and mailboxes of ``source``."""
        caller.require(Privilege.WRITE_USERS)
        caller.require(Privilege.WRITE_MAILBOXES)
        report = MailboxImportReport(dry_run, skip_invalid, update)
        with self._uow() as uow:
            planned = self._validate(uow, read_rows(source, fmt), report)
            if report.invalid_rows and not skip_invalid:
                return report
            self._write(uow, planned, report)
            if not dry_run:
                uow.commit()
                report.committed = True
        return report

    # Validation ----------------------------------------------------------------------------

    def _validate(
        self, uow: UnitOfWork, rows: Iterable[Row], report: MailboxImportReport
    ) -> list[_Planned]:
        profiles = {p.name.strip().lower(): p for p in uow.server_profiles.all()}
        role_ids = {role.name: role_id for role_id, role in uow.directory.roles().items()}
        checked: list[_Planned] = []
        bad: set[int] = set()
        #: Bad rows without a full name, by email: wrong too if the user is new.
        unnamed: dict[int, str] = {}
        for row in rows:
            report.rows += 1
            problems: list[tuple[str, str]] = []
            plan = _check_row(row, profiles, role_ids, problems)
            if plan is None or problems:
                bad.add(row.number)
                for name, reason in problems:
                    report._problem(row.number, name, reason)
                email = _text(row.fields.get("email"))
                if not _text(row.fields.get("full_name")) and is_email_address(email):
                    unnamed[row.number] = email
            else:
                checked.append(plan)
        bad |= self._check_against_storage(uow, checked, report)
        if unnamed:
            known = uow.directory.records_by_address(unnamed.values())
            for number, email in unnamed.items():
                if not any(ref.kind is RecordKind.USER for ref in known.get(email, [])):
                    report._problem(number, "full_name", "a new user needs a full name")
        report.invalid_rows = len(bad)
        report.problems.sort(key=lambda problem: problem.row)
        return [p for p in checked if p.row not in bad]

    def _check_against_storage(
        self, uow: UnitOfWork, planned: list[_Planned], report: MailboxImportReport
    ) -> set[int]:
        """Rows that clash with each other or with what is stored; the others learn the
        user and mailbox they stand for, if these exist."""
        bad: set[int] = set()
        owners = uow.directory.records_by_address({p.email for p in planned})
        by_address: dict[str, Mailbox] = {}
        by_owner: dict[RecordRef, Mailbox] = {}
        for mailbox in uow.mailboxes.all():
            by_address[mailbox.address] = mailbox
            by_owner[mailbox.owner] = mailbox
        seen_address: dict[str, int] = {}
        seen_email: dict[str, int] = {}
        for plan in planned:

            def problem(name: str, reason: str, plan: _Planned = plan) -> None:
                bad.add(plan.row)
                report._problem(plan.row, name, reason)

            if plan.address in seen_address:
                problem("address", f"the address is on row {seen_address[plan.address]} too")
            if plan.email in seen_email:
                problem("email", f"the user is on row {seen_email[plan.email]} too")
            seen_address.setdefault(plan.address, plan.row)
            seen_email.setdefault(plan.email, plan.row)
            refs = owners.get(plan.email, [])
            if any(ref.kind is RecordKind.QUEUE for ref in refs):
                problem("email", "the address belongs to a queue")
                continue
            plan.user_ref = next((r for r in refs if r.kind is RecordKind.USER), None)
            if plan.user_ref is None and not plan.full_name:
                problem("full_name", "a new user needs a full name")
            existing = by_address.get(plan.address)
            if existing is not None and existing.owner != plan.user_ref:
                problem("address", "a mailbox with this address belongs to someone else")
                continue
            owned = by_owner.get(plan.user_ref) if plan.user_ref is not None else None
            if owned is not None and owned.address != plan.address:
                problem("address", f"the user already has the mailbox {owned.address}")
                continue
            plan.mailbox = existing
        return bad

    # Writing -------------------------------------------------------------------------------

    def _write(self, uow: UnitOfWork, planned: list[_Planned], report: MailboxImportReport) -> None:
        """New users, then new mailboxes, then new credentials, each kind in a few
        statements; existing ones are changed one by one, and only with ``update``."""
        config = uow.settings.get()
        now = self._clock.now()
        tracking = uow.directory.get_role_by_name(TRACKING_ROLE)
        default_roles = frozenset({tracking.id} if tracking and tracking.id else ())
        new_users = {
            plan.row: User(
                plan.full_name,
                plan.email,
                plan.role_ids if plan.role_ids is not None else default_roles,
                PersonalOptions(plan.track_incoming or TrackIncoming.IN_RESPONSE),
            )
            for plan in planned
            if plan.user_ref is None
        }
        uow.directory.add_users(list(new_users.values()))
        users: dict[int, RowResult] = {}
        for plan in planned:
            if plan.row in new_users:
                plan.user_ref = new_users[plan.row].ref
                users[plan.row] = RowResult.CREATED
            elif report.update and self._update_user(uow, plan):
                users[plan.row] = RowResult.UPDATED
        new_mailboxes = {
            plan.row: Mailbox(
                plan.address,
                plan.user_ref,
                plan.profile.id,
                plan.incoming or config.default_incoming_method,
                plan.outgoing or config.default_outgoing_method,
            )
            for plan in planned
            if plan.mailbox is None and plan.user_ref is not None
        }
        uow.mailboxes.add_many(list(new_mailboxes.values()))
        sealed: list[tuple[CredentialKey, str, str]] = []
        for plan in planned:
            mailbox = new_mailboxes.get(plan.row) or plan.mailbox
            assert mailbox is not None and mailbox.id is not None  # noqa: S101 - stored
            result = RowResult.EXISTS
            if plan.row in new_mailboxes:
                result = RowResult.CREATED
            elif report.update and self._update_mailbox(uow, plan, mailbox):
                result = RowResult.UPDATED
            for direction, (username, password) in plan.credentials.items():
                key = CredentialKey(CredentialScope.MAILBOX, mailbox.id, direction)
                if result is RowResult.CREATED:
                    sealed.append((key, username, self._secrets.seal(password)))
                elif result is RowResult.UPDATED:
                    uow.credentials.save(key, username, self._secrets.seal(password), now)
            report.outcomes.append(
                RowOutcome(
                    plan.row,
                    plan.email,
                    plan.address,
                    users.get(plan.row, RowResult.EXISTS),
                    result,
                    mailbox.id,
                )
            )
        uow.credentials.add_many(sealed, now)

    def _update_user(self, uow: UnitOfWork, plan: _Planned) -> bool:
        assert plan.user_ref is not None  # noqa: S101 - checked against storage
        user = uow.directory.get_user(plan.user_ref.id)
        assert user is not None  # noqa: S101 - found by its address in this transaction
        before = (user.full_name, user.options.track_incoming, user.role_ids)
        if plan.full_name:
            user.full_name = plan.full_name
        if plan.track_incoming is not None:
            user.options.track_incoming = plan.track_incoming
        if plan.role_ids is not None:
            user.role_ids = plan.role_ids
        if (user.full_name, user.options.track_incoming, user.role_ids) == before:
            return False
        uow.directory.save_user(user)
        return True

    def _update_mailbox(self, uow: UnitOfWork, plan: _Planned, mailbox: Mailbox) -> bool:
        connection = (
            plan.profile.id,
            plan.incoming or mailbox.incoming_method,
            plan.outgoing or mailbox.outgoing_method,
        )
        before = (mailbox.profile_id, mailbox.incoming_method, mailbox.outgoing_method)
        if connection == before and not self._new_credentials(uow, plan, mailbox):
            plan.credentials = {}
            return False
        mailbox.profile_id, mailbox.incoming_method, mailbox.outgoing_method = connection
        # New settings or credentials are tested again before the mailbox syncs.
        untest(uow, mailbox, self._clock.now())
        uow.mailboxes.save(mailbox)
        return True

    def _new_credentials(self, uow: UnitOfWork, plan: _Planned, mailbox: Mailbox) -> bool:
        """Whether the row's credentials differ from the stored ones."""
        assert mailbox.id is not None  # noqa: S101 - stored mailboxes have ids
        for direction, (username, password) in plan.credentials.items():
            stored = uow.credentials.get(
                CredentialKey(CredentialScope.MAILBOX, mailbox.id, direction)
            )
            if stored is None or stored[0] != username:
                return True
            if self._secrets.open(stored[1]) != password:
                return True
        return False


def _check_row(
    row: Row,
    profiles: Mapping[str, ServerProfile],
    role_ids: Mapping[str, int],
    problems: list[tuple[str, str]],
) -> _Planned | None:
    """The row's values, checked one by one; each problem is added to ``problems``."""
    if row.problem is not None:
        problems.append(("", row.problem))
        return None
    values: dict[str, str] = {}
    for name, value in row.fields.items():
        if name not in COLUMNS:
            problems.append((name, f"unknown field; known: {', '.join(COLUMNS)}"))
        elif value is None:
            values[name] = ""
        elif not isinstance(value, str):
            problems.append((name, "expected text"))
        else:
            values[name] = value.strip()
    for name, value in values.items():
        limit = SECRET_MAX_LENGTH if name.endswith("password") else MAX_ADDRESS_LENGTH
        try:
            check_text(name, value, limit)
        except ValidationError as error:
            problems.append((name, str(error).removeprefix(f"{name}: ")))
            values[name] = ""

    def text(name: str) -> str:
        return values.get(name, "")

    email = _address("email", text("email"), problems, required=True)
    address = _address("address", text("address") or text("email"), problems, required=False)
    full_name = text("full_name")
    if len(full_name) > MAX_NAME_LENGTH:
        problems.append(("full_name", f"at most {MAX_NAME_LENGTH} characters"))
    profile = _profile(text("profile"), profiles, problems)
    track = _choice("track_incoming", text("track_incoming"), TrackIncoming, problems)
    incoming = _choice("incoming_method", text("incoming_method"), SyncMethod, problems)
    outgoing = _choice("outgoing_method", text("outgoing_method"), SyncMethod, problems)
    roles = _roles(text("roles"), role_ids, problems)
    credentials = _credentials(values, address, profile, problems)
    if problems or profile is None:
        return None
    return _Planned(
        row=row.number,
        email=email,
        full_name=full_name,
        track_incoming=track,
        role_ids=roles,
        address=address,
        profile=profile,
        incoming=incoming,
        outgoing=outgoing,
        credentials=credentials,
    )


def _text(value: object) -> str:
    """A cell as an address or name is compared: text only, trimmed."""
    return normalize_address(value) if isinstance(value, str) else ""


def _address(name: str, value: str, problems: list[tuple[str, str]], *, required: bool) -> str:
    address = normalize_address(value)
    if not address:
        if required:
            problems.append((name, "required"))
    elif not is_email_address(address):
        problems.append((name, f"{value!r} is not an email address"))
    return address


def _profile(
    name: str, profiles: Mapping[str, ServerProfile], problems: list[tuple[str, str]]
) -> ServerProfile | None:
    if not name:
        problems.append(("profile", "required"))
        return None
    found = profiles.get(name.lower())
    if found is None:
        problems.append(("profile", f"no email server profile named {name!r}"))
    return found


def _choice(name: str, value: str, kind: type[_E], problems: list[tuple[str, str]]) -> _E | None:
    if not value:
        return None
    try:
        return kind(value.lower())
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        problems.append((name, f"{value!r} is not one of {choices}"))
        return None


def _roles(
    value: str, role_ids: Mapping[str, int], problems: list[tuple[str, str]]
) -> frozenset[int] | None:
    """The role ids named by the cell: ``None`` when it is empty (the default applies)."""
    words = [w.lower() for w in re.split(r"[\s;,]+", value) if w]
    if not words:
        return None
    if words == ["none"]:
        return frozenset()
    unknown = [w for w in words if w not in ROLE_NAMES]
    if unknown:
        problems.append(("roles", f"unknown role {unknown[0]!r}; use tracking, admin or none"))
        return None
    return frozenset(role_ids[ROLE_NAMES[w]] for w in words if ROLE_NAMES[w] in role_ids)


def _credentials(
    values: Mapping[str, str],
    address: str,
    profile: ServerProfile | None,
    problems: list[tuple[str, str]],
) -> dict[Direction, tuple[str, str]]:
    found: dict[Direction, tuple[str, str]] = {}
    for direction, prefix in ((Direction.INCOMING, ""), (Direction.OUTGOING, "outgoing_")):
        username = values.get(f"{prefix}username", "")
        password = values.get(f"{prefix}password", "")
        if username and not password:
            problems.append((f"{prefix}password", f"{prefix}username is given without it"))
        if password:
            found[direction] = (username or address, password)
    if found and profile is not None and profile.credential_source is CredentialSource.PROFILE:
        problems.append(
            ("password", f"the profile {profile.name!r} holds the credentials: leave it empty")
        )
    return found
