"""Accounts, contacts, leads, opportunities and cases: read, written, found by natural key,
and let go of by the activities that point at them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    Table,
    bindparam,
    delete,
    false,
    func,
    insert,
    or_,
    select,
    update,
)

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.access_conditions import user_owned_condition
from tidings.adapters.storage.chunking import chunks
from tidings.adapters.storage.mapping import email_columns, emails_from, ref_columns, ref_from
from tidings.domain.access_levels import Scope
from tidings.domain.record_fields import CrmRecord, RecordQuery, kind_of
from tidings.domain.records import (
    Account,
    Case,
    Contact,
    Lead,
    Opportunity,
    RecordKind,
    RecordRef,
    normalize_address,
)

_TABLES: dict[RecordKind, Table] = {
    RecordKind.ACCOUNT: t.accounts,
    RecordKind.CONTACT: t.contacts,
    RecordKind.LEAD: t.leads,
    RecordKind.OPPORTUNITY: t.opportunities,
    RecordKind.CASE: t.cases,
}
_NAME = {
    RecordKind.ACCOUNT: "name",
    RecordKind.CONTACT: "full_name",
    RecordKind.LEAD: "full_name",
    RecordKind.OPPORTUNITY: "name",
    RecordKind.CASE: "title",
}
_WITH_EMAILS = (RecordKind.ACCOUNT, RecordKind.CONTACT, RecordKind.LEAD)
_ADDR = t.record_addresses.c


class SqlRecordRepository:
    """The CRM records the records API and bulk import manage."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def get(self, ref: RecordRef, *, scope: Scope | None = None) -> CrmRecord | None:
        """The record, if ``scope`` reaches it (``None``: the server's own reading)."""
        table = _TABLES[ref.kind]
        statement = _within(select(table).where(table.c.id == ref.id), table, scope)
        row = self._conn.execute(statement).mappings().first()
        return _record(ref.kind, row) if row else None

    def search(
        self, kind: RecordKind, query: RecordQuery, *, scope: Scope | None = None
    ) -> list[CrmRecord]:
        table = _TABLES[kind]
        statement = self._filtered(_within(select(table), table, scope), kind, query)
        rows = self._conn.execute(
            statement.order_by(table.c.id).limit(query.limit).offset(query.offset)
        ).mappings()
        return [_record(kind, row) for row in rows]

    def count(self, kind: RecordKind, query: RecordQuery, *, scope: Scope | None = None) -> int:
        table = _TABLES[kind]
        statement = self._filtered(
            _within(select(func.count()).select_from(table), table, scope), kind, query
        )
        return int(self._conn.execute(statement).scalar_one())

    def add(self, record: CrmRecord, *, owner_id: int | None = None) -> int:
        """Store a new record owned by ``owner_id`` (D365's ownerid)."""
        kind = kind_of(record)
        values = {**_columns(record), "owner_id": owner_id}
        result = self._conn.execute(insert(_TABLES[kind]).values(values))
        record.id = int(result.inserted_primary_key[0])  # type: ignore[index]
        self._index(record)
        return record.id

    def save(self, record: CrmRecord) -> None:
        table = _TABLES[kind_of(record)]
        self._conn.execute(update(table).where(table.c.id == record.id).values(_columns(record)))
        self._index(record)

    def delete(self, ref: RecordRef) -> None:
        """Remove the record, its addresses, and the links of records and folder rules to
        it; activities are detached or kept away by the caller beforehand."""
        self._unindex(ref)
        if ref.kind is not RecordKind.CASE:
            cases = t.cases.c
            self._conn.execute(
                update(t.cases)
                .where(cases.customer_kind == ref.kind.value, cases.customer_id == ref.id)
                .values(customer_kind=None, customer_id=None)
            )
        if ref.kind is RecordKind.ACCOUNT:
            for child in (t.contacts, t.opportunities):
                self._conn.execute(
                    update(child).where(child.c.account_id == ref.id).values(account_id=None)
                )
        rules = t.folder_rules.c
        self._conn.execute(
            update(t.folder_rules)
            .where(rules.regarding_kind == ref.kind.value, rules.regarding_id == ref.id)
            .values(regarding_kind=None, regarding_id=None)
        )
        table = _TABLES[ref.kind]
        self._conn.execute(delete(table).where(table.c.id == ref.id))

    def activity_references(self, ref: RecordRef) -> int:
        """How many activities are regarding ``ref`` or have it as a party."""
        a, p = t.email_activities.c, t.activity_parties.c
        regarding = select(a.id).where(a.regarding_kind == ref.kind.value, a.regarding_id == ref.id)
        party = select(p.activity_id).where(p.party_kind == ref.kind.value, p.party_id == ref.id)
        ids = regarding.union(party).subquery()
        return int(self._conn.execute(select(func.count()).select_from(ids)).scalar_one())

    def detach_activities(self, ref: RecordRef) -> None:
        """Parties of ``ref`` become unresolved (their address stays); regarding is cleared."""
        a, p = t.email_activities.c, t.activity_parties.c
        self._conn.execute(
            update(t.activity_parties)
            .where(p.party_kind == ref.kind.value, p.party_id == ref.id)
            .values(party_kind=None, party_id=None)
        )
        self._conn.execute(
            update(t.email_activities)
            .where(a.regarding_kind == ref.kind.value, a.regarding_id == ref.id)
            .values(regarding_kind=None, regarding_id=None)
        )

    def ids_by_address(self, kind: RecordKind, addresses: Iterable[str]) -> dict[str, int]:
        """Records of ``kind`` holding each address (the lowest id when several do)."""
        wanted = sorted({normalize_address(a) for a in addresses})
        if not wanted:
            return {}
        found: dict[str, int] = {}
        for chunk in chunks(wanted):  # an address is in one chunk: its minimum is whole
            rows = self._conn.execute(
                select(_ADDR.address, func.min(_ADDR.record_id))
                .where(_ADDR.record_kind == kind.value, _ADDR.address.in_(chunk))
                .group_by(_ADDR.address)
            )
            found.update({row[0]: row[1] for row in rows})
        return found

    def id_by_name(self, kind: RecordKind, name: str, account_id: int | None = None) -> int | None:
        """The first record of ``kind`` named ``name`` (case-insensitively)."""
        table = _TABLES[kind]
        column = table.c[_NAME[kind]]
        statement = select(func.min(table.c.id)).where(func.lower(column) == name.lower())
        if kind is RecordKind.OPPORTUNITY:
            statement = statement.where(
                table.c.account_id.is_(None)
                if account_id is None
                else table.c.account_id == account_id
            )
        found = self._conn.execute(statement).scalar_one()
        return int(found) if found is not None else None

    def id_by_ticket(self, ticket_number: str) -> int | None:
        found = self._conn.execute(
            select(func.min(t.cases.c.id)).where(t.cases.c.ticket_number == ticket_number)
        ).scalar_one()
        return int(found) if found is not None else None

    def existing_ids(self, kind: RecordKind, ids: Iterable[int]) -> set[int]:
        table = _TABLES[kind]
        wanted = sorted(set(ids))
        if not wanted:
            return set()
        found: set[int] = set()
        for chunk in chunks(wanted):
            found.update(
                self._conn.execute(select(table.c.id).where(table.c.id.in_(chunk))).scalars()
            )
        return found

    def get_many(self, kind: RecordKind, ids: Iterable[int]) -> dict[int, CrmRecord]:
        table = _TABLES[kind]
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        found: dict[int, CrmRecord] = {}
        for chunk in chunks(wanted):
            rows = self._conn.execute(select(table).where(table.c.id.in_(chunk))).mappings()
            found.update({row["id"]: _record(kind, row) for row in rows})
        return found

    def add_many(self, records: Sequence[CrmRecord], *, owner_id: int | None = None) -> None:
        """Insert records of one kind, owned by ``owner_id``, in one statement; each gets
        its id."""
        if not records:
            return
        table = _TABLES[kind_of(records[0])]
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        rows = [{**_columns(r), "owner_id": owner_id} for r in records]
        ids = self._conn.execute(statement, rows).scalars().all()
        for record, ident in zip(records, ids, strict=True):
            record.id = ident
        self._index_many(records, replace=False)

    def save_many(self, records: Sequence[CrmRecord]) -> None:
        """Update stored records of one kind in one statement."""
        if not records:
            return
        table = _TABLES[kind_of(records[0])]
        names = list(_columns(records[0]))
        statement = (
            update(table)
            .where(table.c.id == bindparam("record_id"))
            .values({name: bindparam(f"new_{name}") for name in names})
        )
        rows = [
            {"record_id": r.id, **{f"new_{k}": v for k, v in _columns(r).items()}} for r in records
        ]
        self._conn.execute(statement, rows)
        self._index_many(records, replace=True)

    def _index_many(self, records: Sequence[CrmRecord], *, replace: bool) -> None:
        kind = kind_of(records[0])
        if kind not in _WITH_EMAILS:
            return
        if replace:
            for chunk in chunks([r.id for r in records]):
                self._conn.execute(
                    delete(t.record_addresses).where(
                        _ADDR.record_kind == kind.value, _ADDR.record_id.in_(chunk)
                    )
                )
        rows = [
            {"address": address, "record_kind": kind.value, "record_id": r.id}
            for r in records
            for address in sorted({normalize_address(a) for a in getattr(r, "emails", ())})
        ]
        if rows:
            self._conn.execute(insert(t.record_addresses), rows)

    def _filtered(self, statement: Select[Any], kind: RecordKind, query: RecordQuery) -> Any:
        table = _TABLES[kind]
        if query.search:
            needle = f"%{_escape(query.search.lower())}%"
            statement = statement.where(func.lower(table.c[_NAME[kind]]).like(needle, escape="\\"))
        if query.email and kind in _WITH_EMAILS:
            address = normalize_address(query.email)
            statement = statement.where(
                or_(*(table.c[f"emailaddress{n}"] == address for n in (1, 2, 3)))
            )
        elif query.email:
            statement = statement.where(false())
        if query.account_id is not None:
            if "account_id" in table.c:
                statement = statement.where(table.c.account_id == query.account_id)
            else:
                statement = statement.where(false())
        return statement

    def _index(self, record: CrmRecord) -> None:
        kind = kind_of(record)
        if kind not in _WITH_EMAILS:
            return
        assert record.id is not None  # noqa: S101 - stored above
        ref = RecordRef(kind, record.id)
        self._unindex(ref)
        emails: tuple[str, ...] = getattr(record, "emails", ())
        for address in sorted({normalize_address(a) for a in emails if a.strip()}):
            self._conn.execute(
                insert(t.record_addresses).values(
                    address=address, record_kind=kind.value, record_id=record.id
                )
            )

    def _unindex(self, ref: RecordRef) -> None:
        self._conn.execute(
            delete(t.record_addresses).where(
                _ADDR.record_kind == ref.kind.value, _ADDR.record_id == ref.id
            )
        )


def _within(statement: Select[Any], table: Any, scope: Scope | None) -> Select[Any]:
    condition = None if scope is None else user_owned_condition(scope, table.c.owner_id)
    return statement if condition is None else statement.where(condition)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _columns(record: CrmRecord) -> dict[str, Any]:
    if isinstance(record, Account):
        return {"name": record.name, **email_columns(record.emails)}
    if isinstance(record, Contact):
        return {
            "full_name": record.full_name,
            "account_id": record.account_id,
            **email_columns(record.emails),
        }
    if isinstance(record, Lead):
        return {
            "full_name": record.full_name,
            "company": record.company,
            **email_columns(record.emails),
        }
    if isinstance(record, Opportunity):
        return {"name": record.name, "account_id": record.account_id}
    return {
        "title": record.title,
        "ticket_number": record.ticket_number,
        **ref_columns("customer", record.customer),
    }


def _record(kind: RecordKind, row: Any) -> CrmRecord:
    if kind is RecordKind.ACCOUNT:
        return Account(row["name"], emails_from(row), row["id"])
    if kind is RecordKind.CONTACT:
        return Contact(row["full_name"], emails_from(row), row["account_id"], row["id"])
    if kind is RecordKind.LEAD:
        return Lead(row["full_name"], row["company"], emails_from(row), row["id"])
    if kind is RecordKind.OPPORTUNITY:
        return Opportunity(row["name"], row["account_id"], row["id"])
    customer = ref_from(row["customer_kind"], row["customer_id"])
    return Case(row["title"], row["ticket_number"], customer, row["id"])
