"""Mailboxes: creating one, Approve Email or Test & Enable for ticked ones, and one mailbox
with its results, alerts and sync state (the grid itself is in mailbox_grid.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.credentials import Direction
from tidings.domain.errors import UserError, ValidationError
from tidings.domain.mailbox_views import MailboxView
from tidings.domain.people import Privilege
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.settings import SyncMethod
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.params import MAX_ID, FormIds, OptionalFormId, PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.entrypoints.web.views.mailbox_grid import grid_page

router = APIRouter(include_in_schema=False)


def _selected(ids: list[int] | None) -> list[int]:
    if not ids:
        raise ValidationError("select at least one mailbox first")
    return ids


@router.post("/mailboxes/approve")
def approve(
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: FormIds = None,
    view: Annotated[MailboxView, Form()] = MailboxView.ALL,
) -> RedirectResponse:
    visitor.require(Privilege.APPROVE_EMAIL)
    tidings.mailboxes.approve_email(visitor.caller, _selected(mailbox_id))
    return RedirectResponse(f"/mailboxes?view={view.value}&done=approved", status_code=303)


@router.post("/mailboxes/test-enable")
async def test_and_enable(
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: FormIds = None,
    view: Annotated[MailboxView, Form()] = MailboxView.ALL,
) -> RedirectResponse:
    visitor.require(Privilege.WRITE_MAILBOXES)
    await tidings.mailboxes.test_and_enable(visitor.caller, _selected(mailbox_id))
    return RedirectResponse(f"/mailboxes?view={view.value}&done=tested", status_code=303)


@router.post("/mailboxes", response_model=None)
def create_mailbox(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    address: Annotated[str, Form()],
    owner: Annotated[str, Form()],
    profile_id: OptionalFormId = None,
) -> Response:
    try:
        detail = tidings.mailbox_setup.create(
            visitor.caller, address=address, owner=_owner(owner), profile_id=profile_id
        )
    except UserError as error:
        params = {"view": MailboxView.ALL.value}
        return grid_page(request, tidings, visitor, params, status=400, error=str(error))
    return RedirectResponse(f"/mailboxes/{detail.mailbox.id}?done=created", status_code=303)


def _owner(value: str) -> RecordRef:
    """``user:3`` or ``queue:1``, as the owner list of the form posts it."""
    kind, _, ident = value.partition(":")
    number = int(ident) if ident.isascii() and ident.isdigit() else 0
    if kind not in ("user", "queue") or not 1 <= number <= MAX_ID:
        raise ValidationError("choose the user or queue who owns the mailbox")
    return RecordRef(RecordKind(kind), number)


@router.get("/mailboxes/{mailbox_id}")
def mailbox_detail(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, mailbox_id: PathId
) -> HTMLResponse:
    return _detail_page(request, tidings, visitor, mailbox_id)


def _detail_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    mailbox_id: int,
    *,
    status: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    detail = tidings.mailbox_setup.get(visitor.caller, mailbox_id)
    sync = tidings.queries.mailbox_sync_state(mailbox_id)
    profiles = (
        tidings.server_profiles.list_profiles(visitor.caller)
        if visitor.can(Privilege.READ_SERVER_PROFILES)
        else []
    )
    return page(
        request,
        "mailbox.html",
        visitor,
        status_code=status,
        detail=detail,
        mailbox=detail.mailbox,
        sync=sync,
        profiles=profiles,
        methods=list(SyncMethod),
        directions=list(Direction),
        alerts=sorted(detail.mailbox.alerts, key=lambda a: a.raised_at, reverse=True),
        error=error,
    )


@router.post("/mailboxes/{mailbox_id}", response_model=None)
def save_mailbox(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: PathId,
    address: Annotated[str, Form()],
    incoming_method: Annotated[SyncMethod, Form()],
    outgoing_method: Annotated[SyncMethod, Form()],
    profile_id: OptionalFormId = None,
) -> Response:
    changes: dict[str, object] = {
        "address": address,
        "incoming_method": incoming_method.value,
        "outgoing_method": outgoing_method.value,
        "profile_id": profile_id,
    }
    try:
        tidings.mailbox_setup.update(visitor.caller, mailbox_id, changes)
    except UserError as error:
        return _detail_page(request, tidings, visitor, mailbox_id, status=400, error=str(error))
    return RedirectResponse(f"/mailboxes/{mailbox_id}?done=saved", status_code=303)


@router.post("/mailboxes/{mailbox_id}/credentials", response_model=None)
def set_credentials(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: PathId,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    direction: Annotated[Direction, Form()] = Direction.INCOMING,
) -> Response:
    try:
        tidings.mailboxes.set_credentials(visitor.caller, mailbox_id, username, password, direction)
    except UserError as error:
        return _detail_page(request, tidings, visitor, mailbox_id, status=400, error=str(error))
    return RedirectResponse(f"/mailboxes/{mailbox_id}?done=saved", status_code=303)
