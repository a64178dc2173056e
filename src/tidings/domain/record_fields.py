"""Turning untrusted fields (an API body, a row of an imported file) into a CRM record.

The names are the API's and the import formats': ``name``, ``full_name``, ``company``,
``title``, ``ticket_number``, ``account_id``, ``customer`` (``account:ID`` or
``contact:ID``), and the addresses as ``emails`` (a list, or one text with ``;`` between
addresses) or D365's ``emailaddress1``–``emailaddress3``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

from tidings.domain.errors import ValidationError
from tidings.domain.records import (
    MAX_EMAIL_ADDRESSES,
    Account,
    Case,
    Contact,
    Lead,
    Opportunity,
    RecordKind,
    RecordRef,
    check_email_addresses,
)

CrmRecord: TypeAlias = Account | Contact | Lead | Opportunity | Case

#: The kinds the records API manages (users and queues are managed elsewhere).
CRM_KINDS = (
    RecordKind.ACCOUNT,
    RecordKind.CONTACT,
    RecordKind.LEAD,
    RecordKind.OPPORTUNITY,
    RecordKind.CASE,
)
_EMAIL_FIELDS = ("emails", "emailaddress1", "emailaddress2", "emailaddress3")
FIELDS: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.ACCOUNT: ("name", *_EMAIL_FIELDS),
    RecordKind.CONTACT: ("full_name", "account_id", *_EMAIL_FIELDS),
    RecordKind.LEAD: ("full_name", "company", *_EMAIL_FIELDS),
    RecordKind.OPPORTUNITY: ("name", "account_id"),
    RecordKind.CASE: ("title", "ticket_number", "customer"),
}
_REQUIRED = {
    RecordKind.ACCOUNT: "name",
    RecordKind.CONTACT: "full_name",
    RecordKind.LEAD: "full_name",
    RecordKind.OPPORTUNITY: "name",
    RecordKind.CASE: "title",
}
MAX_NAME = 200
_CUSTOMER_KINDS = (RecordKind.ACCOUNT, RecordKind.CONTACT)


@dataclass(frozen=True)
class RecordQuery:
    """Which records of one kind a list shows."""

    search: str | None = None
    email: str | None = None
    account_id: int | None = None
    limit: int = 50
    offset: int = 0


def ref_of(record: CrmRecord) -> RecordRef:
    """The reference of a stored record."""
    assert record.id is not None, "a record gets its id when stored"  # noqa: S101
    return RecordRef(kind_of(record), record.id)


def kind_of(record: CrmRecord) -> RecordKind:
    return _KIND_OF[type(record)]


_KIND_OF: dict[type, RecordKind] = {
    Account: RecordKind.ACCOUNT,
    Contact: RecordKind.CONTACT,
    Lead: RecordKind.LEAD,
    Opportunity: RecordKind.OPPORTUNITY,
    Case: RecordKind.CASE,
}


def check_kind(kind: RecordKind) -> RecordKind:
    if kind not in CRM_KINDS:
        raise ValidationError(f"{kind.value} is not a CRM record kind")
    return kind


def record_from_fields(
    kind: RecordKind, fields: Mapping[str, object], current: CrmRecord | None = None
) -> CrmRecord:
    """A record of ``kind`` from ``fields``; with ``current``, only the fields given change.

    Raises ``ValidationError`` naming every field that is wrong.
    """
    unknown = sorted(set(fields) - set(FIELDS[kind]))
    if unknown:
        expected = ", ".join(FIELDS[kind])
        raise ValidationError(f"unknown field(s) {', '.join(unknown)}; expected {expected}")
    base = _as_fields(current) if current is not None else {}
    merged = {**base, **_without_emails(fields)}
    if any(name in fields for name in _EMAIL_FIELDS):
        merged["emails"] = _emails(fields)
    return _build(kind, merged, current.id if current else None)


def _build(kind: RecordKind, values: Mapping[str, object], ident: int | None) -> CrmRecord:
    problems: list[str] = []
    name = _text(values.get(_REQUIRED[kind]), _REQUIRED[kind], problems, required=True)
    emails = values.get("emails", ())
    assert isinstance(emails, tuple)  # noqa: S101 - built by _emails or _as_fields
    record: CrmRecord | None = None
    if kind is RecordKind.ACCOUNT:
        record = Account(name, emails, ident)
    elif kind is RecordKind.CONTACT:
        account = _id(values.get("account_id"), "account_id", problems)
        record = Contact(name, emails, account, ident)
    elif kind is RecordKind.LEAD:
        company = _text(values.get("company"), "company", problems)
        record = Lead(name, company, emails, ident)
    elif kind is RecordKind.OPPORTUNITY:
        record = Opportunity(name, _id(values.get("account_id"), "account_id", problems), ident)
    else:
        ticket = _text(values.get("ticket_number"), "ticket_number", problems, limit=64)
        record = Case(name, ticket, _customer(values.get("customer"), problems), ident)
    if problems:
        raise ValidationError("; ".join(problems))
    return record


def _as_fields(record: CrmRecord) -> dict[str, object]:
    if isinstance(record, Account):
        return {"name": record.name, "emails": record.emails}
    if isinstance(record, Contact):
        return {
            "full_name": record.full_name,
            "account_id": record.account_id,
            "emails": record.emails,
        }
    if isinstance(record, Lead):
        return {"full_name": record.full_name, "company": record.company, "emails": record.emails}
    if isinstance(record, Opportunity):
        return {"name": record.name, "account_id": record.account_id}
    return {
        "title": record.title,
        "ticket_number": record.ticket_number,
        "customer": str(record.customer) if record.customer else None,
    }


def _without_emails(fields: Mapping[str, object]) -> dict[str, object]:
    return {k: v for k, v in fields.items() if k not in _EMAIL_FIELDS}


def _emails(fields: Mapping[str, object]) -> tuple[str, ...]:
    found: list[str] = []
    listed = fields.get("emails")
    if isinstance(listed, str):
        found.extend(listed.split(";"))
    elif isinstance(listed, list | tuple):
        if not all(isinstance(a, str) for a in listed):
            raise ValidationError("emails: expected a list of email addresses")
        found.extend(listed)
    elif listed is not None:
        raise ValidationError("emails: expected a list of email addresses")
    for n in (1, 2, 3):
        value = fields.get(f"emailaddress{n}")
        if value is not None and not isinstance(value, str):
            raise ValidationError(f"emailaddress{n}: expected an email address")
        if value:
            found.append(value)
    cleaned = [a for a in found if a.strip()]
    if len(cleaned) > MAX_EMAIL_ADDRESSES:
        raise ValidationError(f"a record holds at most {MAX_EMAIL_ADDRESSES} email addresses")
    addresses = check_email_addresses(tuple(cleaned))
    if len(set(addresses)) != len(addresses):
        raise ValidationError("the same email address is given twice")
    return addresses


def _text(
    value: object, name: str, problems: list[str], *, required: bool = False, limit: int = MAX_NAME
) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        problems.append(f"{name}: expected text")
        return ""
    value = value.strip()
    if required and not value:
        problems.append(f"{name} is required")
    if len(value) > limit:
        problems.append(f"{name}: at most {limit} characters")
    if "\0" in value:
        problems.append(f"{name}: contains a NUL character")
    return value


def _id(value: object, name: str, problems: list[str]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        problems.append(f"{name}: expected the id of a record, a positive whole number")
        return None
    return value


def _customer(value: object, problems: list[str]) -> RecordRef | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append("customer: expected account:ID or contact:ID")
        return None
    try:
        ref = RecordRef.parse(value)
    except ValueError as error:
        problems.append(f"customer: {error}")
        return None
    if ref.kind not in _CUSTOMER_KINDS or not 0 < ref.id < 2**31:
        problems.append("customer: expected account:ID or contact:ID")
        return None
    return ref
