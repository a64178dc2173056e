"""Mailboxes, the admin's side: views, create and change, credentials, Approve Email and
Test & Enable for one or many."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from tidings.bootstrap import Tidings
from tidings.domain.credentials import Direction
from tidings.domain.error_text import brief
from tidings.domain.grid import (
    DEFAULT_PAGE_SIZE,
    MAILBOX_COLUMNS,
    MAILBOX_DEFAULT_SORT,
    MAX_PAGE,
    PAGE_SIZES,
    MailboxFilter,
    PageRequest,
    parse_sort,
)
from tidings.domain.mailbox import ApprovalStatus, Mailbox, TestStatus
from tidings.domain.mailbox_views import MailboxView
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordRef
from tidings.entrypoints.api.admin_schemas import PROBLEMS, PathId
from tidings.entrypoints.api.admin_schemas import CredentialsIn as MailboxCredentialsIn
from tidings.entrypoints.api.deps import TidingsDep, require
from tidings.entrypoints.api.mailbox_schemas import (
    CheckPublic,
    MailboxAdminPublic,
    MailboxCreate,
    MailboxSelection,
    MailboxUpdate,
    QueuedTestPublic,
    TestReportPublic,
)
from tidings.entrypoints.api.prefer import RESPOND_ASYNC, PreferHeader, prefers
from tidings.entrypoints.api.routes.activities import TEXT
from tidings.services.mailboxes import TestReport

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/mailboxes", tags=["mailboxes"], responses=PROBLEMS)

Reader = Annotated[Caller, require(Privilege.READ_MAILBOXES)]
Writer = Annotated[Caller, require(Privilege.WRITE_MAILBOXES)]
Approver = Annotated[Caller, require(Privilege.APPROVE_EMAIL)]


class ViewPublic(BaseModel):
    view: MailboxView
    label: str


@router.get("/views", summary="The views of the Mailboxes list")
def list_views(caller: Reader) -> list[ViewPublic]:
    return [ViewPublic(view=v, label=v.label) for v in MailboxView]


@router.get("/views/{view}", summary="Mailboxes in one view")
def mailboxes_in_view(
    view: MailboxView, tidings: TidingsDep, caller: Reader
) -> list[MailboxAdminPublic]:
    """Active, pending approval, Test & Enable failed, disabled, or all; folder rules and
    credentials are shown by ``GET /api/mailboxes/{id}``."""
    return [MailboxAdminPublic.of(row) for row in tidings.mailbox_setup.list_rows(caller, view)]


class MailboxGridPublic(BaseModel):
    items: list[MailboxAdminPublic]
    total: int = Field(description="Mailboxes in the whole view, over every page")
    page: int
    page_size: int
    sort: str


@router.get("/grid", summary="Mailboxes filtered, sorted and paged, with the view's total")
def mailbox_grid(
    tidings: TidingsDep,
    caller: Reader,
    view: MailboxView = MailboxView.ALL,
    q: Annotated[str | None, Query(max_length=200, pattern=TEXT)] = None,
    approval: ApprovalStatus | None = None,
    incoming_status: TestStatus | None = None,
    outgoing_status: TestStatus | None = None,
    owner: Annotated[str | None, Query(pattern=r"^(user|queue):\d{1,10}$")] = None,
    profile_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    sort: Annotated[
        str, Query(description=f"A column, - first for descending: {', '.join(MAILBOX_COLUMNS)}")
    ] = MAILBOX_DEFAULT_SORT.token,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=max(PAGE_SIZES))] = DEFAULT_PAGE_SIZE,
) -> MailboxGridPublic:
    """The console's Mailboxes grid: the same filters and sort, counted and paged by the
    database. An unknown sort column is refused (422)."""
    chosen, problem = parse_sort(sort, MAILBOX_COLUMNS, MAILBOX_DEFAULT_SORT)
    if problem:
        raise HTTPException(
            422, f"sort: unknown column; choose one of {', '.join(MAILBOX_COLUMNS)}"
        )
    query = MailboxFilter(
        view=view,
        approval=approval,
        incoming_status=incoming_status,
        outgoing_status=outgoing_status,
        owner=RecordRef.parse(owner) if owner else None,
        profile_id=profile_id,
        text=q,
    )
    found = tidings.mailbox_setup.grid(caller, query, chosen, PageRequest(page, page_size))
    return MailboxGridPublic(
        items=[MailboxAdminPublic.of(row) for row in found.rows],
        total=found.total,
        page=found.page.number,
        page_size=found.page.size,
        sort=chosen.token,
    )


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a mailbox")
def create_mailbox(body: MailboxCreate, tidings: TidingsDep, caller: Writer) -> MailboxAdminPublic:
    """For a user or a queue; it starts pending email address approval."""
    detail = tidings.mailbox_setup.create(
        caller,
        address=body.address,
        owner=RecordRef.parse(body.owner),
        profile_id=body.profile_id,
        incoming_method=body.incoming_method,
        outgoing_method=body.outgoing_method,
    )
    return MailboxAdminPublic.of(detail)


@router.post("/approve", summary="Approve Email for several mailboxes")
def approve_many(
    body: MailboxSelection, tidings: TidingsDep, caller: Approver
) -> list[MailboxAdminPublic]:
    """By ids, by addresses, or ``all``: every mailbox pending approval. All are approved
    in one transaction, or none when one is unknown."""
    ids = _chosen(tidings, caller, body, MailboxView.PENDING_APPROVAL)
    approved = tidings.mailboxes.approve_email(caller, ids)
    return [MailboxAdminPublic.of_mailbox(m) for m in approved]


#: The headers of a 202 Accepted, documented.
_APPLIED = {
    "Preference-Applied": {
        "description": "respond-async: the preference was honoured",
        "schema": {"type": "string"},
    }
}
_ASYNC = (
    " With ``Prefer: respond-async`` (RFC 7240), where workers share a task queue "
    "(PostgreSQL), the tests are handed to the workers and the answer is 202 Accepted at "
    "once, with ``Preference-Applied: respond-async``: each mailbox is listed as queued, and "
    "``GET /api/mailboxes/{id}`` shows ``test_scheduled: true`` until its test has run, then "
    "its results and alerts. Without a task queue (SQLite) the preference is ignored, as RFC "
    "7240 lets a server do, and the answer is 200 with the reports, as without it."
)


@router.post(
    "/test-and-enable",
    summary="Test & Enable several mailboxes",
    description="By ids, by addresses, or ``all``: every mailbox not enabled. Connects with "
    "the real settings, concurrently within each server profile's maximum concurrent "
    "connections; a mailbox is enabled only if every method in use passed. Each result says "
    "what to fix. Ask for ``application/x-ndjson`` to follow the progress of a long run (the "
    "reports stream, whatever ``Prefer`` says)." + _ASYNC,
    response_model=list[TestReportPublic],
    responses={
        200: {
            "content": {
                "application/x-ndjson": {
                    "schema": {"type": "string"},
                    "description": "With Accept: application/x-ndjson, one report a line, "
                    "each as soon as its mailbox is tested",
                }
            }
        },
        202: {
            "model": list[QueuedTestPublic],
            "description": "Queued for the workers (Prefer: respond-async)",
            "headers": _APPLIED,
        },
    },
)
async def test_and_enable_many(
    body: MailboxSelection,
    request: Request,
    tidings: TidingsDep,
    caller: Writer,
    prefer: PreferHeader = None,
) -> list[TestReportPublic] | Response:
    caller.require(Privilege.WRITE_MAILBOXES)
    ids = _chosen(tidings, caller, body, MailboxView.DISABLED)
    if "application/x-ndjson" in request.headers.get("accept", ""):
        return StreamingResponse(_as_lines(tidings, caller, ids), media_type="application/x-ndjson")
    if prefers(prefer, RESPOND_ASYNC):
        queue = tidings.mailboxes.queue_test_and_enable
        queued = await asyncio.to_thread(queue, caller, ids)
        if queued is not None:
            return _accepted([_queued(m) for m in queued])
    reports = await tidings.mailboxes.test_and_enable(caller, ids)
    return [_report(r) for r in reports]


def _chosen(
    tidings: Tidings, caller: Caller, body: MailboxSelection, view: MailboxView
) -> list[int]:
    if body.all:
        return tidings.mailboxes.choose(caller, view)
    return tidings.mailboxes.choose(caller, view, ids=body.ids, addresses=body.addresses)


async def _as_lines(tidings: Tidings, caller: Caller, ids: list[int]) -> AsyncIterator[bytes]:
    """Each report as a JSON line when it is known; an unexpected failure ends the stream
    with a line saying so, as the status line has already gone out."""
    reports: asyncio.Queue[TestReport | None] = asyncio.Queue()
    run = asyncio.create_task(tidings.mailboxes.test_and_enable(caller, ids, reports.put_nowait))
    run.add_done_callback(lambda _: reports.put_nowait(None))
    try:
        while (report := await reports.get()) is not None:
            yield _report(report).model_dump_json().encode() + b"\n"
        if (error := run.exception()) is not None:
            log.error("Test & Enable stopped: %s", brief(error))
            yield json.dumps({"error": f"Test & Enable stopped: {brief(error)}"}).encode() + b"\n"
    finally:
        run.cancel()


@router.get("/{mailbox_id}", summary="Read one mailbox")
def get_mailbox(mailbox_id: PathId, tidings: TidingsDep, caller: Reader) -> MailboxAdminPublic:
    return MailboxAdminPublic.of(tidings.mailbox_setup.get(caller, mailbox_id))


@router.patch("/{mailbox_id}", summary="Change a mailbox")
def update_mailbox(
    mailbox_id: PathId, body: MailboxUpdate, tidings: TidingsDep, caller: Writer
) -> MailboxAdminPublic:
    """A new address needs Approve Email again; a new profile or sync method needs
    Test & Enable again."""
    changes = body.model_dump(exclude_unset=True)
    return MailboxAdminPublic.of(tidings.mailbox_setup.update(caller, mailbox_id, changes))


@router.put(
    "/{mailbox_id}/credentials",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set the mailbox's user name and password",
)
def set_mailbox_credentials(
    mailbox_id: PathId, body: MailboxCredentialsIn, tidings: TidingsDep, caller: Writer
) -> None:
    """The password is kept encrypted and never returned."""
    direction = Direction(body.direction)
    tidings.mailboxes.set_credentials(caller, mailbox_id, body.username, body.password, direction)


@router.post("/{mailbox_id}/approve", summary="Approve Email for one mailbox")
def approve_one(mailbox_id: PathId, tidings: TidingsDep, caller: Approver) -> MailboxAdminPublic:
    tidings.mailboxes.approve_email(caller, [mailbox_id])
    return MailboxAdminPublic.of(tidings.mailbox_setup.get(caller, mailbox_id))


@router.post(
    "/{mailbox_id}/test-and-enable",
    summary="Test & Enable one mailbox",
    description="Connects with the mailbox's real settings and enables it only if every "
    "method in use passed; the report says what to fix." + _ASYNC,
    response_model=TestReportPublic,
    responses={
        202: {
            "model": QueuedTestPublic,
            "description": "Queued for the workers (Prefer: respond-async)",
            "headers": {
                **_APPLIED,
                "Location": {
                    "description": "The mailbox, to read until its test has run",
                    "schema": {"type": "string"},
                },
            },
        }
    },
)
async def test_and_enable_one(
    mailbox_id: PathId, tidings: TidingsDep, caller: Writer, prefer: PreferHeader = None
) -> TestReportPublic | Response:
    if prefers(prefer, RESPOND_ASYNC):
        queue = tidings.mailboxes.queue_test_and_enable
        queued = await asyncio.to_thread(queue, caller, [mailbox_id])
        if queued is not None:
            (one,) = [_queued(m) for m in queued]
            return _accepted(one, location=one.location)
    (report,) = await tidings.mailboxes.test_and_enable(caller, [mailbox_id])
    return _report(report)


def _queued(mailbox: Mailbox) -> QueuedTestPublic:
    assert mailbox.id is not None  # noqa: S101 - stored mailboxes have ids
    return QueuedTestPublic(
        mailbox_id=mailbox.id, address=mailbox.address, location=f"/api/mailboxes/{mailbox.id}"
    )


def _accepted(
    body: QueuedTestPublic | list[QueuedTestPublic], *, location: str | None = None
) -> JSONResponse:
    content = (
        [q.model_dump(mode="json") for q in body]
        if isinstance(body, list)
        else body.model_dump(mode="json")
    )
    headers = {"Preference-Applied": RESPOND_ASYNC}
    if location is not None:
        headers["Location"] = location
    return JSONResponse(content, status_code=status.HTTP_202_ACCEPTED, headers=headers)


def _report(report: TestReport) -> TestReportPublic:
    return TestReportPublic(
        mailbox_id=report.mailbox_id,
        address=report.address,
        incoming=CheckPublic(status=report.incoming.status.value, message=report.incoming.message),
        outgoing=CheckPublic(status=report.outgoing.status.value, message=report.outgoing.message),
        enabled=report.enabled,
    )
