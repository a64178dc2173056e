"""Users, queues, security roles and CRM records, with the address index parties resolve by."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, delete, func, insert, select, update

from tidings.adapters.storage import tables as t
from tidings.adapters.storage.among import among, among_values
from tidings.adapters.storage.chunking import chunks
from tidings.adapters.storage.mapping import (
    email_columns,
    emails_from,
    options_columns,
    options_from,
    ref_columns,
)
from tidings.domain.access_levels import AccessLevel, BusinessUnit
from tidings.domain.people import Privilege, Queue, SecurityRole, User
from tidings.domain.records import (
    Account,
    Case,
    Contact,
    Lead,
    Opportunity,
    RecordKind,
    RecordRef,
    RecordSummary,
    normalize_address,
)

_TABLES: dict[RecordKind, Table] = {
    RecordKind.USER: t.users,
    RecordKind.QUEUE: t.queues,
    RecordKind.ACCOUNT: t.accounts,
    RecordKind.CONTACT: t.contacts,
    RecordKind.LEAD: t.leads,
    RecordKind.OPPORTUNITY: t.opportunities,
    RecordKind.CASE: t.cases,
}
_NAME_COLUMN = {
    RecordKind.USER: "full_name",
    RecordKind.QUEUE: "name",
    RecordKind.ACCOUNT: "name",
    RecordKind.CONTACT: "full_name",
    RecordKind.LEAD: "full_name",
    RecordKind.OPPORTUNITY: "name",
    RecordKind.CASE: "title",
}


@functools.cache
def _select_addresses(dialect: str) -> Any:
    return select(t.record_addresses).where(
        among(t.record_addresses.c.address, "addresses", dialect)
    )


class SqlDirectoryRepository:
    """Who is who: the people and records Tidings resolves email addresses to."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        #: The root unit, once found in this unit of work: a thousand users added by a bulk
        #: import are placed with one query, not one each.
        self._root: int | None = None
        self._root_known = False

    # Security roles ---------------------------------------------------------------------

    def add_role(self, role: SecurityRole) -> int:
        role.id = self._insert(t.security_roles, name=role.name)
        self._hold(role)
        return role.id

    def _hold(self, role: SecurityRole) -> None:
        rows = [
            {"role_id": role.id, "privilege": p.value, "level": role.level_of(p).value}
            for p in sorted(role.privileges)
        ]
        if rows:
            self._conn.execute(insert(t.role_privileges), rows)

    def roles(self) -> dict[int, SecurityRole]:
        # One statement: ingest reads the roles with every batch it decides.
        r, p = t.security_roles.c, t.role_privileges.c
        names: dict[int, str] = {}
        held: dict[int, dict[Privilege, AccessLevel]] = {}
        for row in self._conn.execute(
            select(r.id, r.name, p.privilege, p.level).outerjoin(
                t.role_privileges, p.role_id == r.id
            )
        ):
            names[row.id] = row.name
            if row.privilege is None:
                continue  # a role without privileges
            try:
                privilege = Privilege(row.privilege)
            except ValueError:
                continue  # a privilege a later version added and this one does not know
            held.setdefault(row.id, {})[privilege] = AccessLevel(row.level)
        return {
            role_id: SecurityRole(name, frozenset(), role_id).with_levels(held.get(role_id, {}))
            for role_id, name in names.items()
        }

    # Business units and queue members ---------------------------------------------------

    def add_business_unit(self, unit: BusinessUnit) -> int:
        self._root_known = False  # it may be the root
        return self._insert(t.business_units, name=unit.name, parent_id=unit.parent_id)

    def save_business_unit(self, unit: BusinessUnit) -> None:
        self._root_known = False
        self._conn.execute(
            update(t.business_units)
            .where(t.business_units.c.id == unit.id)
            .values(name=unit.name, parent_id=unit.parent_id)
        )

    def delete_business_unit(self, unit_id: int) -> None:
        self._root_known = False
        self._conn.execute(delete(t.business_units).where(t.business_units.c.id == unit_id))

    def business_units(self) -> list[BusinessUnit]:
        c = t.business_units.c
        rows = self._conn.execute(select(c.id, c.name, c.parent_id).order_by(c.name))
        return [BusinessUnit(r.name, r.parent_id, r.id) for r in rows]

    def root_business_unit(self) -> int | None:
        c = t.business_units.c
        found = self._conn.execute(
            select(c.id).where(c.parent_id.is_(None)).order_by(c.id).limit(1)
        ).scalar()
        return None if found is None else int(found)

    def members_in_unit(self, unit_id: int) -> int:
        """How many users, queues and child units belong to ``unit_id``."""
        total = 0
        for table, column in (
            (t.users, "business_unit_id"),
            (t.queues, "business_unit_id"),
            (t.business_units, "parent_id"),
        ):
            total += int(
                self._conn.execute(
                    select(func.count()).select_from(table).where(table.c[column] == unit_id)
                ).scalar_one()
            )
        return total

    def queues_of_member(self, user_id: int) -> frozenset[int]:
        m = t.queue_members.c
        rows = self._conn.execute(select(m.queue_id).where(m.user_id == user_id))
        return frozenset(rows.scalars())

    def get_role_by_name(self, name: str) -> SecurityRole | None:
        return next((r for r in self.roles().values() if r.name == name), None)

    # Users and queues -------------------------------------------------------------------

    def add_user(self, user: User) -> int:
        user.email = normalize_address(user.email)
        self._place(user)
        user.id = self._insert(t.users, **_user_columns(user))
        self._set_roles(t.user_roles, "user_id", user.id, user.role_ids)
        self._index_addresses(user.ref, (user.email,))
        return user.id

    def add_users(self, users: Sequence[User]) -> None:
        """Store many new users in a few statements (not a few per user); each gets its id."""
        if not users:
            return
        for user in users:
            user.email = normalize_address(user.email)
            self._place(user)
        self._conn.execute(insert(t.users), [_user_columns(user) for user in users])
        ids: dict[str, int] = {}
        c = t.users.c
        for chunk in chunks([user.email for user in users]):
            ids.update(
                (r.email, r.id)
                for r in self._conn.execute(select(c.email, c.id).where(c.email.in_(chunk)))
            )
        for user in users:
            user.id = ids[user.email]
        roles = [{"user_id": u.id, "role_id": r} for u in users for r in sorted(u.role_ids)]
        if roles:
            self._conn.execute(insert(t.user_roles), roles)
        self._conn.execute(
            insert(t.record_addresses),
            [
                {"address": u.email, "record_kind": RecordKind.USER.value, "record_id": u.id}
                for u in users
            ],
        )

    def save_user(self, user: User) -> None:
        self._conn.execute(
            update(t.users).where(t.users.c.id == user.id).values(_user_columns(user))
        )
        self._set_roles(t.user_roles, "user_id", user.ref.id, user.role_ids)
        self._index_addresses(user.ref, (user.email,))

    def get_user(self, user_id: int) -> User | None:
        return self._user(t.users.c.id == user_id)

    def get_user_by_email(self, email: str) -> User | None:
        return self._user(t.users.c.email == normalize_address(email))

    def list_users(self) -> list[User]:
        ids = self._conn.execute(select(t.users.c.id).order_by(t.users.c.full_name)).scalars()
        return [u for u in (self.get_user(i) for i in ids) if u is not None]

    def add_queue(self, queue: Queue) -> int:
        queue.email = normalize_address(queue.email)
        self._place(queue)
        queue.id = self._insert(t.queues, **_queue_columns(queue))
        self._set_roles(t.queue_roles, "queue_id", queue.id, queue.role_ids)
        self._set_members(queue.id, queue.member_ids)
        self._index_addresses(queue.ref, (queue.email,))
        return queue.id

    def get_queue(self, queue_id: int) -> Queue | None:
        row = (
            self._conn.execute(select(t.queues).where(t.queues.c.id == queue_id)).mappings().first()
        )
        if row is None:
            return None
        roles = self._role_ids(t.queue_roles, "queue_id", queue_id)
        m = t.queue_members.c
        members = frozenset(
            self._conn.execute(select(m.user_id).where(m.queue_id == queue_id)).scalars()
        )
        return Queue(
            row["name"],
            row["email"],
            roles,
            options_from(row),
            row["id"],
            row["business_unit_id"],
            members,
        )

    # CRM records ------------------------------------------------------------------------

    def add_account(self, account: Account) -> int:
        account.id = self._insert(t.accounts, name=account.name, **email_columns(account.emails))
        self._index_addresses(RecordRef(RecordKind.ACCOUNT, account.id), account.emails)
        return account.id

    def add_contact(self, contact: Contact) -> int:
        contact.id = self._insert(
            t.contacts,
            full_name=contact.full_name,
            account_id=contact.account_id,
            **email_columns(contact.emails),
        )
        self._index_addresses(RecordRef(RecordKind.CONTACT, contact.id), contact.emails)
        return contact.id

    def add_lead(self, lead: Lead) -> int:
        lead.id = self._insert(
            t.leads, full_name=lead.full_name, company=lead.company, **email_columns(lead.emails)
        )
        self._index_addresses(RecordRef(RecordKind.LEAD, lead.id), lead.emails)
        return lead.id

    def add_opportunity(self, opportunity: Opportunity) -> int:
        opportunity.id = self._insert(
            t.opportunities, name=opportunity.name, account_id=opportunity.account_id
        )
        return opportunity.id

    def add_case(self, case: Case) -> int:
        case.id = self._insert(
            t.cases,
            title=case.title,
            ticket_number=case.ticket_number,
            **ref_columns("customer", case.customer),
        )
        return case.id

    def records_by_address(self, addresses: Iterable[str]) -> dict[str, list[RecordRef]]:
        wanted = sorted({normalize_address(a) for a in addresses})
        found: dict[str, list[RecordRef]] = {}
        if not wanted:
            return found
        statement = _select_addresses(self._conn.dialect.name)
        for chunk in chunks(wanted):
            for row in self._conn.execute(statement, {"addresses": chunk}):
                found.setdefault(row.address, []).append(
                    RecordRef(RecordKind(row.record_kind), row.record_id)
                )
        return found

    def summaries(self, refs: Iterable[RecordRef]) -> dict[RecordRef, RecordSummary]:
        by_kind: dict[RecordKind, set[int]] = {}
        for ref in refs:
            by_kind.setdefault(ref.kind, set()).add(ref.id)
        found: dict[RecordRef, RecordSummary] = {}
        for kind, ids in by_kind.items():
            table = _TABLES[kind]
            for chunk in chunks(sorted(ids)):
                rows = self._conn.execute(select(table).where(table.c.id.in_(chunk))).mappings()
                for row in rows:
                    ref = RecordRef(kind, row["id"])
                    found[ref] = RecordSummary(ref, row[_NAME_COLUMN[kind]], _row_emails(kind, row))
        return found

    def exists(self, ref: RecordRef) -> bool:
        table = _TABLES[ref.kind]
        return (
            self._conn.execute(select(table.c.id).where(table.c.id == ref.id)).first() is not None
        )

    def count(self, kind: RecordKind) -> int:
        return int(self._conn.execute(select(func.count()).select_from(_TABLES[kind])).scalar_one())

    # Helpers ----------------------------------------------------------------------------

    def _insert(self, table: Table, **values: Any) -> int:
        return int(self._conn.execute(insert(table).values(values)).inserted_primary_key[0])  # type: ignore[index]

    def _index_addresses(self, ref: RecordRef, addresses: Iterable[str]) -> None:
        index = t.record_addresses
        self._conn.execute(
            delete(index).where(index.c.record_kind == ref.kind.value, index.c.record_id == ref.id)
        )
        for address in sorted({normalize_address(a) for a in addresses if a.strip()}):
            self._conn.execute(
                insert(index).values(address=address, record_kind=ref.kind.value, record_id=ref.id)
            )

    def _set_roles(
        self, table: Table, column: str, owner_id: int, role_ids: frozenset[int]
    ) -> None:
        self._conn.execute(delete(table).where(table.c[column] == owner_id))
        for role_id in sorted(role_ids):
            self._conn.execute(insert(table).values({column: owner_id, "role_id": role_id}))

    def _place(self, owner: User | Queue) -> None:
        # Anyone added without a unit starts in the organization's root unit, as in D365.
        if owner.business_unit_id is None:
            if not self._root_known:
                self._root, self._root_known = self.root_business_unit(), True
            owner.business_unit_id = self._root

    def _set_members(self, queue_id: int, member_ids: frozenset[int]) -> None:
        m = t.queue_members
        self._conn.execute(delete(m).where(m.c.queue_id == queue_id))
        if member_ids:
            self._conn.execute(
                insert(m), [{"queue_id": queue_id, "user_id": u} for u in sorted(member_ids)]
            )

    def _role_ids(self, table: Table, column: str, owner_id: int) -> frozenset[int]:
        rows = self._conn.execute(select(table.c.role_id).where(table.c[column] == owner_id))
        return frozenset(rows.scalars())

    def _user(self, condition: Any) -> User | None:
        row = self._conn.execute(select(t.users).where(condition)).mappings().first()
        if row is None:
            return None
        return _user_from(row, self._role_ids(t.user_roles, "user_id", row["id"]))

    def get_users(self, user_ids: Sequence[int]) -> dict[int, User]:
        """The users of these ids that exist, with their roles, in two queries."""
        if not user_ids:
            return {}
        ids = sorted(set(user_ids))
        r = t.user_roles.c
        roles: dict[int, set[int]] = {}
        dialect = self._conn.dialect.name
        for user_id, role_id in self._conn.execute(
            select(r.user_id, r.role_id).where(among_values(r.user_id, ids, dialect))
        ):
            roles.setdefault(user_id, set()).add(role_id)
        rows = self._conn.execute(
            select(t.users).where(among_values(t.users.c.id, ids, dialect))
        ).mappings()
        return {row["id"]: _user_from(row, frozenset(roles.get(row["id"], ()))) for row in rows}

    # Administration ---------------------------------------------------------------------

    def save_role(self, role: SecurityRole) -> None:
        assert role.id is not None, "save_role needs a stored role"  # noqa: S101
        self._conn.execute(
            update(t.security_roles).where(t.security_roles.c.id == role.id).values(name=role.name)
        )
        self._conn.execute(delete(t.role_privileges).where(t.role_privileges.c.role_id == role.id))
        self._hold(role)

    def list_queues(self) -> list[Queue]:
        ids = self._conn.execute(select(t.queues.c.id).order_by(t.queues.c.name)).scalars()
        return [q for q in (self.get_queue(i) for i in ids) if q is not None]

    def save_queue(self, queue: Queue) -> None:
        queue.email = normalize_address(queue.email)
        self._conn.execute(
            update(t.queues).where(t.queues.c.id == queue.id).values(_queue_columns(queue))
        )
        self._set_roles(t.queue_roles, "queue_id", queue.ref.id, queue.role_ids)
        self._set_members(queue.ref.id, queue.member_ids)
        self._index_addresses(queue.ref, (queue.email,))


def _user_columns(user: User) -> dict[str, Any]:
    return {
        "full_name": user.full_name,
        "email": user.email,
        "password_hash": user.password_hash,
        "is_active": user.is_active,
        "business_unit_id": user.business_unit_id,
        **options_columns(user.options),
    }


def _queue_columns(queue: Queue) -> dict[str, Any]:
    return {
        "name": queue.name,
        "email": queue.email,
        "business_unit_id": queue.business_unit_id,
        **options_columns(queue.options),
    }


def _row_emails(kind: RecordKind, row: Any) -> tuple[str, ...]:
    if kind in (RecordKind.USER, RecordKind.QUEUE):
        return (row["email"],)
    if kind in (RecordKind.ACCOUNT, RecordKind.CONTACT, RecordKind.LEAD):
        return emails_from(row)
    return ()


def _user_from(row: Any, role_ids: frozenset[int]) -> User:
    return User(
        full_name=row["full_name"],
        email=row["email"],
        role_ids=role_ids,
        options=options_from(row),
        password_hash=row["password_hash"],
        is_active=row["is_active"],
        id=row["id"],
        business_unit_id=row["business_unit_id"],
    )
