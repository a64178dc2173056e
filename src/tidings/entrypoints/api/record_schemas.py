"""What the records API takes and returns: one Create, Update and Public shape per kind."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from tidings.domain.record_fields import CrmRecord, ref_of
from tidings.domain.records import Account, Case, Contact, Lead, Opportunity, RecordKind

Name = Annotated[str, Field(min_length=1, max_length=200)]
Emails = Annotated[
    list[Annotated[str, Field(max_length=320)]],
    Field(max_length=3, description="Up to three addresses: D365's emailaddress1–3"),
]
AccountId = Annotated[int, Field(ge=1, le=2**31 - 1, description="The parent account's id")]
Customer = Annotated[
    str, Field(pattern=r"^(account|contact):[0-9]+$", examples=["account:1"], max_length=40)
]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AccountCreate(_Input):
    name: Name
    emails: Emails = []


class AccountUpdate(_Input):
    name: Name | None = None
    emails: Emails | None = None


class ContactCreate(_Input):
    full_name: Name
    emails: Emails = []
    account_id: AccountId | None = None


class ContactUpdate(_Input):
    full_name: Name | None = None
    emails: Emails | None = None
    account_id: AccountId | None = None


class LeadCreate(_Input):
    full_name: Name
    company: Annotated[str, Field(max_length=200)] = ""
    emails: Emails = []


class LeadUpdate(_Input):
    full_name: Name | None = None
    company: Annotated[str, Field(max_length=200)] | None = None
    emails: Emails | None = None


class OpportunityCreate(_Input):
    name: Name
    account_id: AccountId | None = None


class OpportunityUpdate(_Input):
    name: Name | None = None
    account_id: AccountId | None = None


class CaseCreate(_Input):
    title: Name
    ticket_number: Annotated[str, Field(max_length=64)] = ""
    customer: Customer | None = None


class CaseUpdate(_Input):
    title: Name | None = None
    ticket_number: Annotated[str, Field(max_length=64)] | None = None
    customer: Customer | None = None


class _Public(BaseModel):
    id: int
    ref: str


class AccountPublic(_Public):
    name: str
    emails: list[str]


class ContactPublic(_Public):
    full_name: str
    emails: list[str]
    account_id: int | None


class LeadPublic(_Public):
    full_name: str
    company: str
    emails: list[str]


class OpportunityPublic(_Public):
    name: str
    account_id: int | None


class CasePublic(_Public):
    title: str
    ticket_number: str
    customer: str | None


def public(record: CrmRecord) -> dict[str, Any]:
    """The public fields of any record, for the kind's Public model."""
    ref = ref_of(record)
    base: dict[str, Any] = {"id": ref.id, "ref": str(ref)}
    if isinstance(record, Account):
        return base | {"name": record.name, "emails": list(record.emails)}
    if isinstance(record, Contact):
        return base | {
            "full_name": record.full_name,
            "emails": list(record.emails),
            "account_id": record.account_id,
        }
    if isinstance(record, Lead):
        return base | {
            "full_name": record.full_name,
            "company": record.company,
            "emails": list(record.emails),
        }
    if isinstance(record, Opportunity):
        return base | {"name": record.name, "account_id": record.account_id}
    assert isinstance(record, Case)  # noqa: S101 - the last kind
    return base | {
        "title": record.title,
        "ticket_number": record.ticket_number,
        "customer": str(record.customer) if record.customer else None,
    }


class RowErrorPublic(BaseModel):
    row: int = Field(description="The record's number in the file; the first record is 1")
    message: str


class ImportReportPublic(BaseModel):
    kind: str
    dry_run: bool
    all_or_nothing: bool
    committed: bool = Field(description="Whether the import was written")
    rows: int
    created: int
    updated: int
    skipped: int
    error_count: int
    errors: list[RowErrorPublic] = Field(description="The first 1,000 errors")


class ImportProblem(BaseModel):
    """Problem details (RFC 9457) of an import that wrote nothing, with its report."""

    type: str
    title: str
    status: int
    detail: str
    report: ImportReportPublic


#: The models of each kind: (create, update, public).
MODELS: dict[RecordKind, tuple[type[BaseModel], type[BaseModel], type[BaseModel]]] = {
    RecordKind.ACCOUNT: (AccountCreate, AccountUpdate, AccountPublic),
    RecordKind.CONTACT: (ContactCreate, ContactUpdate, ContactPublic),
    RecordKind.LEAD: (LeadCreate, LeadUpdate, LeadPublic),
    RecordKind.OPPORTUNITY: (OpportunityCreate, OpportunityUpdate, OpportunityPublic),
    RecordKind.CASE: (CaseCreate, CaseUpdate, CasePublic),
}
