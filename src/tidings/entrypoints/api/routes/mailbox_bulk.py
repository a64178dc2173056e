"""Setting up many users and mailboxes at once: ``POST /api/mailboxes/bulk`` with a CSV or
JSON file (the columns of docs/admin.md), validated whole before anything is written."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from tidings.domain.people import Caller, Privilege
from tidings.entrypoints.api.admin_schemas import PROBLEMS
from tidings.entrypoints.api.deps import TidingsDep, require
from tidings.entrypoints.api.uploads import spooled_body, upload_format
from tidings.services.mailbox_import import COLUMNS, MailboxImportReport, RowResult

router = APIRouter(prefix="/api/mailboxes", tags=["mailboxes"], responses=PROBLEMS)

Writer = Annotated[Caller, require(Privilege.WRITE_MAILBOXES)]


class RowProblemPublic(BaseModel):
    row: int = Field(description="The row's number: 1 is the first after a CSV's header line")
    field: str = Field(description="The column or key at fault (empty: the whole row)")
    reason: str


class RowOutcomePublic(BaseModel):
    row: int
    email: str
    address: str
    user: RowResult
    mailbox: RowResult
    mailbox_id: int | None


class MailboxImportPublic(BaseModel):
    dry_run: bool
    skip_invalid: bool
    update: bool
    committed: bool = Field(description="Whether the import was written")
    rows: int
    invalid_rows: int
    outcomes: list[RowOutcomePublic] = Field(description="Each good row: created, exists …")
    problems: list[RowProblemPublic] = Field(description="The first 1,000 problems")


class MailboxImportProblem(BaseModel):
    """Problem details (RFC 9457) of an import that wrote nothing, with its report."""

    type: str
    title: str
    status: int
    detail: str
    report: MailboxImportPublic


_ROW: dict[str, Any] = {
    "type": "object",
    "properties": {name: {"type": "string", "description": text} for name, text in COLUMNS.items()},
    "required": ["email", "profile"],
    "additionalProperties": False,
}
_BODY = {
    "required": True,
    "description": "CSV with a header line of column names, or JSON: an array of objects "
    "(or one object per line); passwords are sealed at once and never returned",
    "content": {
        "application/json": {"schema": {"type": "array", "items": _ROW}},
        "text/csv": {"schema": {"type": "string"}},
        "application/x-ndjson": {"schema": {"type": "string"}},
    },
}


@router.post(
    "/bulk",
    response_model=MailboxImportPublic,
    summary="Create many users and mailboxes from CSV or JSON",
    responses={
        413: {"description": "The upload is too large"},
        415: {"description": "The Content-Type is neither CSV nor JSON"},
        422: {
            "model": MailboxImportProblem,
            "description": "Some rows are invalid and nothing was written",
            "content": {"application/problem+json": {}},
        },
    },
    openapi_extra={"requestBody": _BODY},
)
async def import_mailboxes(
    request: Request,
    tidings: TidingsDep,
    caller: Writer,
    skip_invalid: Annotated[
        bool, Query(description="Write the good rows even if some are invalid")
    ] = False,
    update: Annotated[
        bool, Query(description="Change existing users and mailboxes to match their rows")
    ] = False,
    dry_run: Annotated[bool, Query(description="Validate and count; write nothing")] = False,
) -> Any:
    """Each row: a user (created when new), the user's mailbox, its server profile by
    name, its sync methods and credentials. Existing mailboxes are reported as ``exists``
    (or changed with ``update``). Every row is checked before any is written; by default
    one invalid row means nothing is written (``skip_invalid`` writes the others)."""
    fmt = upload_format(request)
    async with spooled_body(request) as spool:
        report = await run_in_threadpool(
            tidings.mailbox_import.import_mailboxes,
            caller,
            spool,
            fmt,
            skip_invalid=skip_invalid,
            update=update,
            dry_run=dry_run,
        )
    body = _public(report)
    if report.invalid_rows and not report.skip_invalid:
        problem = MailboxImportProblem(
            type="about:blank",
            title="Invalid rows",
            status=422,
            detail=f"{report.invalid_rows} of {report.rows} rows are invalid; nothing was written",
            report=body,
        )
        return JSONResponse(
            problem.model_dump(mode="json"),
            status_code=422,
            media_type="application/problem+json",
        )
    return body


def _public(report: MailboxImportReport) -> MailboxImportPublic:
    return MailboxImportPublic(
        dry_run=report.dry_run,
        skip_invalid=report.skip_invalid,
        update=report.update,
        committed=report.committed,
        rows=report.rows,
        invalid_rows=report.invalid_rows,
        outcomes=[
            RowOutcomePublic(
                row=o.row,
                email=o.email,
                address=o.address,
                user=o.user,
                mailbox=o.mailbox,
                mailbox_id=o.mailbox_id,
            )
            for o in report.outcomes
        ],
        problems=[
            RowProblemPublic(row=p.row, field=p.field, reason=p.reason) for p in report.problems
        ],
    )
