"""CRM records that email can involve: the people and the things an email may be about.

Accounts, contacts and leads carry up to three email addresses, as Dynamics 365's
``emailaddress1``–``emailaddress3``; opportunities and cases are *regarding* targets only.
"""

from __future__ import annotations

import enum
import unicodedata
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tidings.domain.address_forms import unicode_domain

if TYPE_CHECKING:
    from typing_extensions import override
else:  # the domain needs no third-party module at run time

    def override(method):  # noqa: ANN001, ANN201
        return method


class RecordKind(enum.StrEnum):
    """Every kind of record an activity party or a regarding link can point at."""

    USER = "user"
    QUEUE = "queue"
    ACCOUNT = "account"
    CONTACT = "contact"
    LEAD = "lead"
    OPPORTUNITY = "opportunity"
    CASE = "case"


#: Kinds whose email addresses identify a party (D365's "email-enabled" entities).
EMAIL_ENABLED_KINDS = frozenset(
    {RecordKind.USER, RecordKind.QUEUE, RecordKind.ACCOUNT, RecordKind.CONTACT, RecordKind.LEAD}
)
#: The customer-side kinds the option "from Leads, Contacts, and Accounts" speaks of.
CUSTOMER_KINDS = frozenset({RecordKind.ACCOUNT, RecordKind.CONTACT, RecordKind.LEAD})
#: Kinds that may be the record an email is regarding.
REGARDING_KINDS = frozenset(
    {
        RecordKind.ACCOUNT,
        RecordKind.CONTACT,
        RecordKind.LEAD,
        RecordKind.OPPORTUNITY,
        RecordKind.CASE,
    }
)
MAX_EMAIL_ADDRESSES = 3


@dataclass(frozen=True, order=True)
class RecordRef:
    """A pointer to one CRM record, written ``kind:id`` (``contact:12``)."""

    kind: RecordKind
    id: int

    @override
    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> RecordRef:
        """Read ``kind:id``; raise ``ValueError`` with a readable message otherwise."""
        kind, sep, ident = text.partition(":")
        if not sep or not (ident.isascii() and ident.isdigit()):
            raise ValueError(f"expected KIND:ID such as contact:12, got {text!r}")
        if int(ident) >= 2**31:
            raise ValueError(f"no record has the id {ident}")
        try:
            return cls(RecordKind(kind.strip().lower()), int(ident))
        except ValueError:
            kinds = ", ".join(k.value for k in RecordKind)
            raise ValueError(f"unknown record kind {kind!r}; expected one of {kinds}") from None


def normalize_address(address: str) -> str:
    """The form an address is stored and compared in: case-insensitive, as every CRM
    matches addresses, and an international domain in Unicode whichever way it was written
    (``xn--bcher-kva.example``, ``BÜCHER.example``: ``bücher.example``)."""
    text = address.strip().lower()
    if text.isascii() and "xn--" not in text:
        return text
    local, at, domain = text.rpartition("@")
    if not at:
        return unicodedata.normalize("NFC", text)
    return f"{unicodedata.normalize('NFC', local)}@{unicode_domain(domain)}"


#: RFC 5321 §4.5.3.1: 64 octets of local part, @, 255 of domain.
MAX_ADDRESS_LENGTH = 320
_NOT_IN_ADDRESS = frozenset(' \t\r\n<>()[],;:"\\')


def is_email_address(address: str) -> bool:
    """A plausible ``local@domain``: what can be stored as a record's address."""
    local, at, domain = address.rpartition("@")
    return bool(
        local
        and at
        and domain
        and "." in domain.strip(".")
        and not _NOT_IN_ADDRESS.intersection(address)
        and all(ord(c) >= 32 and ord(c) != 127 for c in address)
    )


def check_email_addresses(addresses: tuple[str, ...]) -> tuple[str, ...]:
    """Validate up to three addresses, returning them normalized."""
    from tidings.domain.errors import FieldValueError, ValidationError

    if len(addresses) > MAX_EMAIL_ADDRESSES:
        raise ValidationError(f"a record holds at most {MAX_EMAIL_ADDRESSES} email addresses")
    cleaned = tuple(normalize_address(a) for a in addresses if a.strip())
    for address in cleaned:
        if not is_email_address(address):
            problem = f"{address!r} is not an email address"
            raise FieldValueError({"emails": problem}, problem)
    return cleaned


@dataclass
class Account:
    """A company the organization does business with."""

    name: str
    emails: tuple[str, ...] = ()
    id: int | None = None


@dataclass
class Contact:
    """A person, usually working for an account."""

    full_name: str
    emails: tuple[str, ...] = ()
    account_id: int | None = None
    id: int | None = None


@dataclass
class Lead:
    """A prospective customer not yet qualified."""

    full_name: str
    company: str = ""
    emails: tuple[str, ...] = ()
    id: int | None = None


@dataclass
class Opportunity:
    """A potential sale, regarding target only."""

    name: str
    account_id: int | None = None
    id: int | None = None


@dataclass
class Case:
    """A customer service case (D365's *incident*), regarding target only."""

    title: str
    ticket_number: str = ""
    customer: RecordRef | None = None
    id: int | None = None


@dataclass(frozen=True)
class RecordSummary:
    """What a page or an explanation shows of a record: its reference and its name."""

    ref: RecordRef
    name: str
    emails: tuple[str, ...] = field(default=())
