"""Accounts, contacts, leads, opportunities and cases: list, read, create, change, delete,
and bulk import from CSV or JSON (streamed to a temporary file, never held in memory)."""

import functools
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import create_model

from tidings.domain.people import Caller, Privilege
from tidings.domain.record_fields import CRM_KINDS, RecordQuery
from tidings.domain.records import RecordKind, RecordRef
from tidings.entrypoints.api.deps import TidingsDep, require
from tidings.entrypoints.api.record_schemas import (
    MODELS,
    ImportProblem,
    ImportReportPublic,
    RowErrorPublic,
    public,
)
from tidings.entrypoints.api.uploads import spooled_body, upload_format
from tidings.services.record_import import ImportReport

_PLURAL = {
    RecordKind.ACCOUNT: "accounts",
    RecordKind.CONTACT: "contacts",
    RecordKind.LEAD: "leads",
    RecordKind.OPPORTUNITY: "opportunities",
    RecordKind.CASE: "cases",
}
#: Query text: anything but control characters, which no stored name or address holds.
TEXT = r"^[^\x00-\x1f\x7f]*$"
_WITH_ACCOUNT = (RecordKind.CONTACT, RecordKind.OPPORTUNITY)
_WITH_EMAILS = (RecordKind.ACCOUNT, RecordKind.CONTACT, RecordKind.LEAD)

Reader = Annotated[Caller, require(Privilege.READ_RECORDS)]
Writer = Annotated[Caller, require(Privilege.WRITE_RECORDS)]
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def include(app: FastAPI) -> None:
    """Add one router per record kind to ``app``."""
    for kind in CRM_KINDS:
        app.include_router(_router(kind))


@functools.cache
def _router(kind: RecordKind) -> APIRouter:
    # Built once per process: each app includes the same routes (they reach Tidings through
    # the request), and building them is nearly all the time an app takes to create.
    plural = _PLURAL[kind]
    create_in, update_in, out = MODELS[kind]
    page = create_model(
        f"{out.__name__.removesuffix('Public')}Page",
        items=(list[out], ...),  # type: ignore[valid-type]
        total=(int, ...),
        limit=(int, ...),
        offset=(int, ...),
    )
    router = APIRouter(prefix=f"/api/{plural}", tags=["records"])

    @router.get("", response_model=page, name=f"list_{plural}", summary=f"List {plural}")
    def list_records(
        tidings: TidingsDep,
        caller: Reader,
        search: Annotated[
            str | None, Query(max_length=200, pattern=TEXT, description="Part of the name")
        ] = None,
        email: Annotated[
            str | None,
            Query(
                max_length=320,
                pattern=TEXT,
                description="An address",
                include_in_schema=kind in _WITH_EMAILS,
            ),
        ] = None,
        account_id: Annotated[
            int | None,
            Query(
                ge=1,
                le=2**31 - 1,
                description="Parent account",
                include_in_schema=kind in _WITH_ACCOUNT,
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
    ) -> Any:
        query = RecordQuery(
            search=search,
            email=email if kind in _WITH_EMAILS else None,
            account_id=account_id if kind in _WITH_ACCOUNT else None,
            limit=limit,
            offset=offset,
        )
        found = tidings.records.search(caller, kind, query)
        items = [public(r) for r in found.items]
        return {"items": items, "total": found.total, "limit": limit, "offset": offset}

    @router.get(
        "/{record_id}", response_model=out, name=f"get_{kind.value}", summary=f"One {kind.value}"
    )
    def get_record(record_id: RecordId, tidings: TidingsDep, caller: Reader) -> Any:
        return public(tidings.records.get(caller, RecordRef(kind, record_id)))

    @router.post(
        "",
        response_model=out,
        status_code=201,
        name=f"create_{kind.value}",
        summary=f"Create a {kind.value}",
    )
    def create_record(
        body: create_in,  # type: ignore[valid-type]
        tidings: TidingsDep,
        caller: Writer,
    ) -> Any:
        fields = body.model_dump()  # type: ignore[attr-defined]
        return public(tidings.records.create(caller, kind, fields))

    @router.patch(
        "/{record_id}",
        response_model=out,
        name=f"update_{kind.value}",
        summary=f"Change a {kind.value}: only the fields given",
    )
    def update_record(
        record_id: RecordId,
        body: update_in,  # type: ignore[valid-type]
        tidings: TidingsDep,
        caller: Writer,
    ) -> Any:
        fields = body.model_dump(exclude_unset=True)  # type: ignore[attr-defined]
        ref = RecordRef(kind, record_id)
        return public(tidings.records.update(caller, ref, fields))

    @router.delete(
        "/{record_id}",
        status_code=204,
        name=f"delete_{kind.value}",
        summary=f"Delete a {kind.value}",
    )
    def delete_record(
        record_id: RecordId,
        tidings: TidingsDep,
        caller: Writer,
        detach: Annotated[
            bool,
            Query(
                description="Delete even when email activities refer to the record: their "
                "parties stay unresolved with the address, their regarding link is cleared"
            ),
        ] = False,
    ) -> Response:
        tidings.records.delete(caller, RecordRef(kind, record_id), detach=detach)
        return Response(status_code=204)

    @router.post(
        "/import",
        response_model=ImportReportPublic,
        name=f"import_{plural}",
        summary=f"Import {plural} from CSV or JSON",
        responses={
            413: {"description": "The upload is too large"},
            415: {"description": "The Content-Type is neither CSV nor JSON"},
            422: {
                "model": ImportProblem,
                "description": "Some rows are invalid and nothing was written",
                "content": {"application/problem+json": {}},
            },
        },
        openapi_extra={"requestBody": _import_body(kind)},
    )
    async def import_records(
        request: Request,
        tidings: TidingsDep,
        caller: Writer,
        dry_run: Annotated[bool, Query(description="Validate and count; write nothing")] = False,
        all_or_nothing: Annotated[
            bool, Query(description="Write nothing when any row is invalid (else skip those)")
        ] = True,
    ) -> Any:
        fmt = upload_format(request)
        async with spooled_body(request) as spool:
            report = await run_in_threadpool(
                tidings.record_import.import_records,
                caller,
                kind,
                spool,
                fmt,
                dry_run=dry_run,
                all_or_nothing=all_or_nothing,
            )
        return _report_response(report)

    return router


def _report_public(report: ImportReport) -> ImportReportPublic:
    return ImportReportPublic(
        kind=report.kind.value,
        dry_run=report.dry_run,
        all_or_nothing=report.all_or_nothing,
        committed=report.committed,
        rows=report.rows,
        created=report.created,
        updated=report.updated,
        skipped=report.skipped,
        error_count=report.error_count,
        errors=[RowErrorPublic(row=e.row, message=e.message) for e in report.errors],
    )


def _report_response(report: ImportReport) -> Any:
    body = _report_public(report)
    if report.error_count and report.all_or_nothing:
        problem = ImportProblem(
            type="about:blank",
            title="Invalid rows",
            status=422,
            detail=f"{report.error_count} of {report.rows} rows are invalid; nothing was written",
            report=body,
        )
        return JSONResponse(
            problem.model_dump(), status_code=422, media_type="application/problem+json"
        )
    return body


def _import_body(kind: RecordKind) -> dict[str, Any]:
    create_in = MODELS[kind][0]
    columns = ", ".join(create_in.model_fields)
    row: dict[str, Any] = {"type": "object", "additionalProperties": True}
    return {
        "required": True,
        "description": f"CSV with a header line (columns among {columns}, or emailaddress1–3 "
        "for addresses), or JSON: an array of objects or one object per line",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "array", "items": row}},
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
