"""Bulk import of CRM records from CSV or JSON.

Every row is validated before any is written: its fields, and the parent account or
customer it names. By default one bad row stops the whole import and every error is
reported with its row number; ``all_or_nothing=False`` imports the good rows and skips the
bad ones. ``dry_run`` does everything but commit, so its report says what an import would
do. Rows are matched to existing records by a natural key, so importing a file twice
changes nothing the second time:

- accounts: any of the row's email addresses, else the name;
- contacts and leads: any of the row's email addresses (a row without one is new);
- opportunities: name and parent account;
- cases: the ticket number (a row without one is new).

A matched record gets the fields the file has columns (or keys) for; the others stay.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO

from tidings.domain.errors import NotAuthorizedError, ValidationError
from tidings.domain.people import Caller, Privilege
from tidings.domain.record_fields import (
    CrmRecord,
    check_kind,
    record_from_fields,
)
from tidings.domain.records import Account, Case, Contact, Opportunity, RecordKind, RecordRef
from tidings.services.import_formats import ImportFormat, Row, read_rows
from tidings.services.ports import UnitOfWork

#: Errors listed in a report; more are counted, not listed.
MAX_REPORTED_ERRORS = 1000
_CHUNK = 500


@dataclass(frozen=True)
class RowError:
    row: int
    message: str


@dataclass
class ImportReport:
    """What an import did, or would do (``dry_run``), row by row where it went wrong."""

    kind: RecordKind
    dry_run: bool
    all_or_nothing: bool
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    error_count: int = 0
    errors: list[RowError] = field(default_factory=list)
    committed: bool = False

    def add_error(self, row: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(row, message))


class RecordImportService:
    """Reads a file twice: once to validate every row, once to write."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow = uow_factory

    def import_records(
        self,
        caller: Caller,
        kind: RecordKind,
        source: IO[bytes],
        fmt: ImportFormat,
        *,
        dry_run: bool = False,
        all_or_nothing: bool = True,
    ) -> ImportReport:
        caller.require(Privilege.WRITE_RECORDS)
        if not caller.scope(Privilege.WRITE_RECORDS).is_organization:
            # An import updates whichever record holds a row's address or name, anyone's.
            raise NotAuthorizedError(
                "importing records needs the privilege write_records at Organization level"
            )
        check_kind(kind)
        report = ImportReport(kind, dry_run, all_or_nothing)
        with self._uow() as uow:
            bad = self._validate(uow, kind, read_rows(source, fmt), report)
            if bad and all_or_nothing:
                return report
            report.skipped = len(bad)
            self._write(uow, kind, read_rows(source, fmt), bad, report, caller.user.id)
            if not dry_run:
                uow.commit()
                report.committed = True
        return report

    def _validate(
        self, uow: UnitOfWork, kind: RecordKind, rows: Iterator[Row], report: ImportReport
    ) -> set[int]:
        bad: set[int] = set()
        chunk: list[tuple[int, CrmRecord]] = []
        for row in rows:
            report.rows += 1
            record = _check_row(kind, row, report)
            if record is None:
                bad.add(row.number)
                continue
            chunk.append((row.number, record))
            if len(chunk) >= _CHUNK:
                bad |= _check_links(uow, chunk, report)
                chunk = []
        bad |= _check_links(uow, chunk, report)
        return bad

    def _write(
        self,
        uow: UnitOfWork,
        kind: RecordKind,
        rows: Iterator[Row],
        bad: set[int],
        report: ImportReport,
        owner_id: int | None,
    ) -> None:
        """Write the good rows a chunk at a time; a row whose natural key an earlier row
        of the chunk has too waits for the next chunk, so that it finds that record."""
        chunk: list[tuple[dict[str, object], CrmRecord]] = []
        keys: set[str] = set()
        for row in rows:
            if row.number in bad:
                continue
            record = record_from_fields(kind, row.fields)
            row_keys = _keys(record)
            if row_keys & keys or len(chunk) >= _CHUNK:
                _write_chunk(uow, kind, chunk, report, owner_id)
                chunk, keys = [], set()
            chunk.append((row.fields, record))
            keys |= row_keys
        _write_chunk(uow, kind, chunk, report, owner_id)


def _write_chunk(
    uow: UnitOfWork,
    kind: RecordKind,
    chunk: list[tuple[dict[str, object], CrmRecord]],
    report: ImportReport,
    owner_id: int | None,
) -> None:
    matches = _match(uow, kind, [record for _, record in chunk])
    current = uow.records.get_many(kind, [m for m in matches if m is not None])
    new: list[CrmRecord] = []
    changed: list[CrmRecord] = []
    for (fields, record), match in zip(chunk, matches, strict=True):
        if match is None:
            new.append(record)
        else:
            changed.append(record_from_fields(kind, fields, current[match]))
    uow.records.add_many(new, owner_id=owner_id)
    uow.records.save_many(changed)
    report.created += len(new)
    report.updated += len(changed)


def _check_row(kind: RecordKind, row: Row, report: ImportReport) -> CrmRecord | None:
    if row.problem is not None:
        report.add_error(row.number, row.problem)
        return None
    try:
        return record_from_fields(kind, row.fields)
    except ValidationError as error:
        report.add_error(row.number, str(error))
        return None


def _check_links(
    uow: UnitOfWork, chunk: list[tuple[int, CrmRecord]], report: ImportReport
) -> set[int]:
    """Rows naming a parent account or customer that does not exist."""
    wanted: dict[RecordKind, set[int]] = {}
    for _, record in chunk:
        for ref in _links(record):
            wanted.setdefault(ref.kind, set()).add(ref.id)
    found = {
        RecordRef(kind, ident)
        for kind, ids in wanted.items()
        for ident in uow.records.existing_ids(kind, ids)
    }
    bad: set[int] = set()
    for number, record in chunk:
        for ref in _links(record):
            if ref not in found:
                word = "parent account" if ref.kind is RecordKind.ACCOUNT else "customer"
                shown = ref.id if isinstance(record, Contact | Opportunity) else ref
                report.add_error(number, f"unknown {word} {shown}")
                bad.add(number)
    return bad


def _links(record: CrmRecord) -> list[RecordRef]:
    if isinstance(record, Contact | Opportunity) and record.account_id is not None:
        return [RecordRef(RecordKind.ACCOUNT, record.account_id)]
    if isinstance(record, Case) and record.customer is not None:
        return [record.customer]
    return []


def _keys(record: CrmRecord) -> set[str]:
    """What identifies the record among the rows of one file."""
    keys = {f"@{a}" for a in getattr(record, "emails", ())}
    if isinstance(record, Account):
        keys.add(f"account:{record.name.lower()}")
    elif isinstance(record, Opportunity):
        keys.add(f"opportunity:{record.account_id}:{record.name.lower()}")
    elif isinstance(record, Case) and record.ticket_number:
        keys.add(f"case:{record.ticket_number}")
    return keys


def _match(uow: UnitOfWork, kind: RecordKind, records: list[CrmRecord]) -> list[int | None]:
    """The stored record each row stands for, by the kind's natural key."""
    held = uow.records.ids_by_address(
        kind, [a for record in records for a in getattr(record, "emails", ())]
    )
    return [_match_one(uow, record, held) for record in records]


def _match_one(uow: UnitOfWork, record: CrmRecord, held: dict[str, int]) -> int | None:
    records = uow.records
    found = [held[a] for a in getattr(record, "emails", ()) if a in held]
    if found:
        return min(found)
    if isinstance(record, Account):
        return records.id_by_name(RecordKind.ACCOUNT, record.name)
    if isinstance(record, Opportunity):
        return records.id_by_name(RecordKind.OPPORTUNITY, record.name, record.account_id)
    if isinstance(record, Case) and record.ticket_number:
        return records.id_by_ticket(record.ticket_number)
    return None
