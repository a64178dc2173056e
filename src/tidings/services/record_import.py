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

from tidings.domain.errors import ValidationError
from tidings.domain.people import Caller, Privilege
from tidings.domain.record_fields import (
    FIELDS,
    CrmRecord,
    check_kind,
    record_from_fields,
)
from tidings.domain.records import Account, Case, Contact, Lead, Opportunity, RecordKind, RecordRef
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
        check_kind(kind)
        report = ImportReport(kind, dry_run, all_or_nothing)
        with self._uow() as uow:
            bad = self._validate(uow, kind, read_rows(source, fmt), report)
            if bad and all_or_nothing:
                return report
            report.skipped = len(bad)
            for row in read_rows(source, fmt):
                if row.number not in bad:
                    self._write(uow, kind, row.fields, report)
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
        self, uow: UnitOfWork, kind: RecordKind, fields: dict[str, object], report: ImportReport
    ) -> None:
        record = record_from_fields(kind, fields)
        existing_id = _match(uow, record)
        if existing_id is None:
            uow.records.add(record)
            report.created += 1
            return
        current = uow.records.get(RecordRef(kind, existing_id))
        assert current is not None  # noqa: S101 - just matched in this transaction
        uow.records.save(record_from_fields(kind, fields, current))
        report.updated += 1


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


def _match(uow: UnitOfWork, record: CrmRecord) -> int | None:
    """The stored record this row stands for, by the kind's natural key."""
    records = uow.records
    if isinstance(record, Account | Contact | Lead) and record.emails:
        kind = RecordKind(type(record).__name__.lower())
        held = records.ids_by_address(kind, record.emails)
        if held:
            return min(held.values())
    if isinstance(record, Account):
        return records.id_by_name(RecordKind.ACCOUNT, record.name)
    if isinstance(record, Opportunity):
        return records.id_by_name(RecordKind.OPPORTUNITY, record.name, record.account_id)
    if isinstance(record, Case) and record.ticket_number:
        return records.id_by_ticket(record.ticket_number)
    return None


def fields_of(kind: RecordKind) -> tuple[str, ...]:
    """The field names an import file may use for ``kind``."""
    return FIELDS[check_kind(kind)]
