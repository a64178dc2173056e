"""Setting up many users and mailboxes from one file, on SQLite and PostgreSQL: every row is
checked before any is written, passwords are sealed, a second run creates nothing, and the
reads do not grow with the number of rows."""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import event

from tests.builders import Org
from tidings.domain.credentials import CredentialKey, CredentialScope, Direction
from tidings.domain.errors import NotAuthorizedError
from tidings.domain.people import TRACKING_ROLE, Caller, Privilege, TrackIncoming
from tidings.domain.server_profile import CredentialSource, ServerProfile, ServerProfileKind
from tidings.domain.settings import SyncMethod
from tidings.services.import_formats import ImportFormat
from tidings.services.mailbox_import import MailboxImportReport, RowProblem, RowResult

HEADER = "full_name,email,track_incoming,address,profile,incoming_method,username,password\n"


@pytest.fixture
def admin(org: Org) -> Caller:
    with org.tidings.uow() as uow:
        uow.server_profiles.add(
            ServerProfile(
                name="Northwind IMAP",
                kind=ServerProfileKind.IMAP_SMTP,
                incoming_host="imap.northwind.example",
                outgoing_host="smtp.northwind.example",
            )
        )
        uow.server_profiles.add(
            ServerProfile(
                name="Service account",
                kind=ServerProfileKind.IMAP_SMTP,
                incoming_host="imap.northwind.example",
                outgoing_host="smtp.northwind.example",
                credential_source=CredentialSource.PROFILE,
            )
        )
        uow.commit()
    return Caller(org.users["dana"], frozenset(Privilege))


def _csv(count: int, start: int = 0) -> str:
    lines = [
        f"Person {n},p{n}@staff.example,,,Northwind IMAP,,,secret-{n}\n"
        for n in range(start, start + count)
    ]
    return HEADER + "".join(lines)


def _import(org: Org, admin: Caller, text: str, **options: bool) -> MailboxImportReport:
    fmt = ImportFormat.JSON if text.lstrip().startswith("[") else ImportFormat.CSV
    source = io.BytesIO(text.encode())
    return org.tidings.mailbox_import.import_mailboxes(admin, source, fmt, **options)


def test_two_hundred_rows_create_two_hundred_users_and_mailboxes_with_sealed_passwords(
    org: Org, admin: Caller
) -> None:
    # Each row: a new user with the tracking role, a mailbox pending approval, a password
    # kept only in sealed form that opens to what the file said.
    report = _import(org, admin, _csv(200))
    assert report.committed and report.invalid_rows == 0 and report.problems == []
    assert report.count("user", RowResult.CREATED) == 200
    assert report.count("mailbox", RowResult.CREATED) == 200
    with org.tidings.uow() as uow:
        mailboxes = {m.address: m for m in uow.mailboxes.all()}
        tracking = org.roles[TRACKING_ROLE]
        for n in (0, 117, 199):
            address = f"p{n}@staff.example"
            mailbox = mailboxes[address]
            user = uow.directory.get_user_by_email(address)
            assert user is not None and user.full_name == f"Person {n}"
            assert user.role_ids == frozenset({tracking})
            assert user.options.track_incoming is TrackIncoming.IN_RESPONSE
            assert mailbox.owner == user.ref and not mailbox.is_approved
            assert mailbox.incoming_method is SyncMethod.SERVER_SIDE_SYNC
            key = CredentialKey(CredentialScope.MAILBOX, mailbox.id or 0, Direction.INCOMING)
            username, sealed = uow.credentials.get(key) or ("", "")
            assert username == address
            assert f"secret-{n}" not in sealed
            assert org.tidings.secrets.open(sealed) == f"secret-{n}"
    assert len(mailboxes) == 200 + len(org.mailboxes)


def test_every_bad_row_is_reported_with_its_number_and_field_and_nothing_is_written(
    org: Org, admin: Caller
) -> None:
    # All problems at once, not the first only; the good rows wait for the bad ones.
    text = (
        HEADER
        + "Good One,good1@staff.example,,,Northwind IMAP,,,pw\n"
        + "Bad Address,bad@staff.example,,not an address,Northwind IMAP,,,pw\n"
        + ",bad2@staff.example,sometimes,,Nowhere,sideways,,\n"
        + "Good Two,good2@staff.example,,,northwind imap,none,,\n"
        + "Again,good1@staff.example,,,Northwind IMAP,,,pw\n"
        + ",new@staff.example,,,Northwind IMAP,,,\n"
        + "Dana Twice,dana2@staff.example,,dana@northwind.example,Northwind IMAP,,,\n"
        + "Held,held@staff.example,,,Service account,,svc,pw\n"
        + "No Password,nopw@staff.example,,,Northwind IMAP,,login,\n"
    )
    report = _import(org, admin, text)
    assert not report.committed and report.rows == 9 and report.invalid_rows == 7
    assert report.problems == [
        RowProblem(2, "address", "'not an address' is not an email address"),
        RowProblem(3, "profile", "no email server profile named 'Nowhere'"),
        RowProblem(
            3,
            "track_incoming",
            "'sometimes' is not one of " + ", ".join(t.value for t in TrackIncoming),
        ),
        RowProblem(
            3, "incoming_method", "'sideways' is not one of server_side_synchronization, none"
        ),
        RowProblem(3, "full_name", "a new user needs a full name"),
        RowProblem(5, "address", "the address is on row 1 too"),
        RowProblem(5, "email", "the user is on row 1 too"),
        RowProblem(6, "full_name", "a new user needs a full name"),
        RowProblem(7, "address", "a mailbox with this address belongs to someone else"),
        RowProblem(
            8, "password", "the profile 'Service account' holds the credentials: leave it empty"
        ),
        RowProblem(9, "password", "username is given without it"),
    ]
    assert all("pw" not in p.reason for p in report.problems)
    with org.tidings.uow() as uow:
        assert uow.directory.get_user_by_email("good1@staff.example") is None
        assert uow.mailboxes.get_by_address("good2@staff.example") is None

    # Told to skip them, the good rows are written and the bad ones reported the same way.
    skipped = _import(org, admin, text, skip_invalid=True)
    assert skipped.committed and skipped.invalid_rows == 7
    assert [(o.row, o.mailbox) for o in skipped.outcomes] == [
        (1, RowResult.CREATED),
        (4, RowResult.CREATED),
    ]
    with org.tidings.uow() as uow:
        good2 = uow.mailboxes.get_by_address("good2@staff.example")
        assert good2 is not None and good2.incoming_method is SyncMethod.NONE


def test_a_second_run_reports_what_exists_and_update_changes_it_to_match(
    org: Org, admin: Caller
) -> None:
    # Idempotent: nothing is duplicated; --update changes the option and, since the password
    # changed, the mailbox must pass Test & Enable again.
    assert _import(org, admin, _csv(3)).committed
    again = _import(org, admin, _csv(3))
    assert again.committed
    assert [(o.user, o.mailbox) for o in again.outcomes] == [(RowResult.EXISTS,) * 2] * 3
    with org.tidings.uow() as uow:
        assert len([m for m in uow.mailboxes.all() if m.address.endswith("@staff.example")]) == 3

    changed = [
        {
            "email": "p1@staff.example",
            "profile": "Northwind IMAP",
            "track_incoming": "all_email_messages",
            "password": "new-secret",
        },
        {"email": "p2@staff.example", "profile": "Northwind IMAP", "password": "secret-2"},
    ]
    updated = _import(org, admin, json.dumps(changed), update=True)
    assert [(o.row, o.user, o.mailbox) for o in updated.outcomes] == [
        (1, RowResult.UPDATED, RowResult.UPDATED),
        (2, RowResult.EXISTS, RowResult.EXISTS),
    ]
    with org.tidings.uow() as uow:
        user = uow.directory.get_user_by_email("p1@staff.example")
        assert user is not None and user.options.track_incoming is TrackIncoming.ALL
        mailbox = uow.mailboxes.get_by_address("p1@staff.example")
        assert mailbox is not None
        key = CredentialKey(CredentialScope.MAILBOX, mailbox.id or 0, Direction.INCOMING)
        assert org.tidings.secrets.open((uow.credentials.get(key) or ("", ""))[1]) == "new-secret"


def test_the_reads_stay_the_same_however_many_rows_and_all_is_written_in_one_transaction(
    org: Org, admin: Caller
) -> None:
    # Lookups are batched: a file twice as long reads with the same queries, and commits once.
    def run(text: str) -> tuple[int, int]:
        selects: list[str] = []
        commits: list[str] = []

        def statement(_conn: object, _cursor: object, sql: str, *_args: object) -> None:
            if sql.lstrip().upper().startswith("SELECT"):
                selects.append(sql)

        def commit(_conn: object) -> None:
            commits.append("commit")

        event.listen(org.tidings.engine, "before_cursor_execute", statement)
        event.listen(org.tidings.engine, "commit", commit)
        try:
            assert _import(org, admin, text).committed
        finally:
            event.remove(org.tidings.engine, "before_cursor_execute", statement)
            event.remove(org.tidings.engine, "commit", commit)
        return len(selects), len(commits)

    assert run(_csv(50)) == run(_csv(100, start=50))


def test_the_import_needs_the_privileges_to_create_users_and_mailboxes(org: Org) -> None:
    # A tracking user may not create users: refused before the file is read.
    caller = Caller(org.users["dana"], frozenset({Privilege.WRITE_MAILBOXES}))
    with pytest.raises(NotAuthorizedError, match="write_users"):
        _import(org, caller, _csv(1))


def test_a_dry_run_reports_what_would_be_created_and_writes_nothing(
    org: Org, admin: Caller
) -> None:
    # The report of a dry run is the import's, row for row; the database stays as it was.
    assert _import(org, admin, _csv(2)).committed
    dry = _import(org, admin, _csv(4), dry_run=True)
    assert not dry.committed
    assert [o.mailbox for o in dry.outcomes] == [RowResult.EXISTS] * 2 + [RowResult.CREATED] * 2
    with org.tidings.uow() as uow:
        assert uow.mailboxes.get_by_address("p2@staff.example") is None
        assert uow.directory.get_user_by_email("p3@staff.example") is None
