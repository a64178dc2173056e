"""CRM records by hand: list, read, create, change and delete accounts, contacts, leads,
opportunities and cases.

Deleting a record that activities refer to (as a party or as their regarding record) is
refused unless the caller asks to detach them: the parties then stay on the activities
unresolved, with their email address, and the regarding link is cleared, as when a record
is deleted in Dynamics 365. Contacts and opportunities of a deleted account lose their
parent account; cases lose their customer; folder rules lose their regarding record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tidings.domain.access_levels import Scope
from tidings.domain.errors import ConflictError, NotFoundError, ValidationError
from tidings.domain.people import Caller, Privilege
from tidings.domain.record_fields import (
    CrmRecord,
    RecordQuery,
    check_kind,
    kind_of,
    record_from_fields,
    ref_of,
)
from tidings.domain.records import (
    REGARDING_KINDS,
    Case,
    Contact,
    Opportunity,
    RecordKind,
    RecordRef,
    RecordSummary,
)
from tidings.services.ports import UnitOfWork


@dataclass(frozen=True)
class RecordPage:
    """One page of records and how many match in all."""

    items: list[CrmRecord]
    total: int


class RecordService:
    """What the records API does, each use case checking the caller's privileges first.

    Records are read and changed within the caller's access level (a record is the user's
    when the user owns it); one out of reach is "not found", so its existence is not told.
    """

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow = uow_factory

    def search(self, caller: Caller, kind: RecordKind, query: RecordQuery) -> RecordPage:
        scope = caller.scope(Privilege.READ_RECORDS)
        check_kind(kind)
        with self._uow() as uow:
            return RecordPage(
                uow.records.search(kind, query, scope=scope),
                uow.records.count(kind, query, scope=scope),
            )

    def find_regarding(self, caller: Caller, text: str, limit: int = 10) -> list[RecordSummary]:
        """Records an email can be regarding whose name (or address) contains ``text``:
        accounts, contacts, leads, opportunities and cases, up to ``limit`` of each kind."""
        scope = caller.scope(Privilege.READ_RECORDS)
        text = text.strip()
        if not text:
            return []
        with self._uow() as uow:
            refs = [
                ref_of(record)
                for kind in RecordKind
                if kind in REGARDING_KINDS
                for record in uow.records.search(
                    kind, RecordQuery(search=text, limit=limit), scope=scope
                )
            ]
            names = uow.directory.summaries(set(refs))
        return [names[ref] for ref in refs if ref in names]

    def get(self, caller: Caller, ref: RecordRef) -> CrmRecord:
        scope = caller.scope(Privilege.READ_RECORDS)
        check_kind(ref.kind)
        with self._uow() as uow:
            return _require(uow, ref, scope)

    def create(self, caller: Caller, kind: RecordKind, fields: Mapping[str, object]) -> CrmRecord:
        """A new record owned by the caller, as in D365."""
        caller.require(Privilege.WRITE_RECORDS)
        record = record_from_fields(check_kind(kind), fields)
        with self._uow() as uow:
            check_links(uow, record)
            _check_addresses_free(uow, record)
            uow.records.add(record, owner_id=caller.user.id)
            uow.commit()
        return record

    def update(self, caller: Caller, ref: RecordRef, fields: Mapping[str, object]) -> CrmRecord:
        scope = caller.scope(Privilege.WRITE_RECORDS)
        check_kind(ref.kind)
        with self._uow() as uow:
            record = record_from_fields(ref.kind, fields, _require(uow, ref, scope))
            check_links(uow, record)
            _check_addresses_free(uow, record)
            uow.records.save(record)
            uow.commit()
        return record

    def delete(self, caller: Caller, ref: RecordRef, *, detach: bool = False) -> int:
        """Delete ``ref``; returns how many activities were detached from it."""
        scope = caller.scope(Privilege.WRITE_RECORDS)
        check_kind(ref.kind)
        with self._uow() as uow:
            _require(uow, ref, scope)
            referring = uow.records.activity_references(ref)
            if referring and not detach:
                raise ConflictError(
                    f"{referring} email activit{'y refers' if referring == 1 else 'ies refer'} "
                    f"to {ref}; delete with detach=true to keep them without the link"
                )
            if referring:
                uow.records.detach_activities(ref)
            uow.records.delete(ref)
            uow.commit()
        return referring


def check_links(uow: UnitOfWork, record: CrmRecord) -> None:
    """The parent account or customer a record names must exist."""
    account = record.account_id if isinstance(record, Contact | Opportunity) else None
    if account is not None and not uow.records.existing_ids(RecordKind.ACCOUNT, [account]):
        raise ValidationError(f"unknown parent account {account}")
    if isinstance(record, Case) and record.customer is not None:
        customer = record.customer
        if not uow.records.existing_ids(customer.kind, [customer.id]):
            raise ValidationError(f"unknown customer {customer}")


def _require(uow: UnitOfWork, ref: RecordRef, scope: Scope) -> CrmRecord:
    record = uow.records.get(ref, scope=scope)
    if record is None:
        raise NotFoundError(f"no {ref.kind.value} with id {ref.id}")
    return record


def _check_addresses_free(uow: UnitOfWork, record: CrmRecord) -> None:
    """Two records of one kind never share an address: party resolution would have to
    guess between them (bulk import updates the holder instead)."""
    emails: tuple[str, ...] = getattr(record, "emails", ())
    taken = {
        address: ident
        for address, ident in uow.records.ids_by_address(kind_of(record), emails).items()
        if ident != record.id
    }
    if taken:
        address, ident = sorted(taken.items())[0]
        raise ConflictError(f"{address} is already the address of {kind_of(record).value}:{ident}")
