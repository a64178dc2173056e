"""Mailboxes: creating one, Approve Email or Test & Enable for ticked ones, and one mailbox
with its results, alerts and sync state (the grid itself is in mailbox_grid.py)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from tidings.domain.credentials import Direction
from tidings.domain.errors import UserError, ValidationError
from tidings.domain.mailbox_views import MailboxView
from tidings.domain.people import Privilege
from tidings.domain.records import RecordKind, RecordRef, is_email_address, normalize_address
from tidings.domain.settings import SyncMethod
from tidings.entrypoints.api.admin_schemas import CredentialsIn
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.api.mailbox_schemas import MailboxCreate, MailboxUpdate
from tidings.entrypoints.web.confirm import ask_first
from tidings.entrypoints.web.forms import (
    Field,
    FieldErrors,
    Posted,
    changes_from,
    choices_of,
    form_status,
    refused,
)
from tidings.entrypoints.web.params import MAX_ID, FormIds, PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.entrypoints.web.views.mailbox_grid import grid_page, owner_choices
from tidings.services.server_profiles import ProfileView

router = APIRouter(include_in_schema=False)


def _selected(ids: list[int] | None) -> list[int]:
    if not ids:
        raise ValidationError("select at least one mailbox first")
    return ids


def _nothing_selected(
    request: Request, tidings: TidingsDep, visitor: Visitor, view: MailboxView
) -> Response:
    """The list again, saying what is missing (a mailbox's own page always names one)."""
    params = {"view": view.value}
    error = "select at least one mailbox first"
    return grid_page(request, tidings, visitor, params, status=422, error=error)


#: Where a mailbox action came from: the list, or one mailbox's own page (``record``).
Back = Annotated[Literal["list", "record"], Form()]


def _after(
    action: str, view: MailboxView, back: str, ids: list[int], done: str
) -> RedirectResponse:
    """Back where the action was asked for: one mailbox's page shows its own result."""
    if back == "record" and len(ids) == 1:
        return RedirectResponse(f"/mailboxes/{ids[0]}?done={done}", status_code=303)
    return RedirectResponse(f"/mailboxes?view={view.value}&done={action}", status_code=303)


@router.post("/mailboxes/approve", response_model=None)
def approve(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: FormIds = None,
    view: Annotated[MailboxView, Form()] = MailboxView.ALL,
    back: Back = "list",
) -> Response:
    visitor.require(Privilege.APPROVE_EMAIL)
    if not mailbox_id:
        return _nothing_selected(request, tidings, visitor, view)
    ids = _selected(mailbox_id)
    tidings.mailboxes.approve_email(visitor.caller, ids)
    return _after("approved", view, back, ids, "approved-one")


@router.post("/mailboxes/test-enable", response_model=None)
async def test_and_enable(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: FormIds = None,
    view: Annotated[MailboxView, Form()] = MailboxView.ALL,
    back: Back = "list",
) -> Response:
    visitor.require(Privilege.WRITE_MAILBOXES)
    if not mailbox_id:
        return _nothing_selected(request, tidings, visitor, view)
    ids = _selected(mailbox_id)
    # Where workers share a task queue, they test, as the grid's bulk action has them do.
    queue = tidings.mailboxes.queue_test_and_enable
    queued = await asyncio.to_thread(queue, visitor.caller, ids)
    if queued is not None:
        return _after("test-queued", view, back, ids, "test-queued-one")
    reports = await tidings.mailboxes.test_and_enable(visitor.caller, ids)
    done = "tested-enabled" if all(r.enabled for r in reports) else "tested-failed"
    return _after("tested", view, back, ids, done)


@router.post("/mailboxes/disable", response_model=None)
async def disable(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    mailbox_id: FormIds = None,
    view: Annotated[MailboxView, Form()] = MailboxView.ALL,
    back: Back = "list",
) -> Response:
    visitor.require(Privilege.WRITE_MAILBOXES)
    if not mailbox_id:
        return _nothing_selected(request, tidings, visitor, view)
    ids = _selected(mailbox_id)
    where = f"/mailboxes/{ids[0]}" if back == "record" and len(ids) == 1 else "/mailboxes"
    question = (
        f"Disable {len(ids)} mailbox{'es' if len(ids) != 1 else ''}? Server-side "
        "synchronization stops until Test & Enable passes again."
    )
    asked = await ask_first(request, visitor, question=question, verb="Disable", back=where)
    if asked is not None:
        return asked
    tidings.mailboxes.disable(visitor.caller, ids)
    return _after("disabled", view, back, ids, "disabled")


def new_mailbox_fields(owners: list[tuple[str, str]], profiles: list[ProfileView]) -> list[Field]:
    """The New mailbox form of the grid, checked as the API's ``MailboxCreate``."""
    listed = tuple((str(v.profile.id), v.profile.name) for v in profiles)
    return [
        Field("address", "Email address", "email", required=True, form_key="new"),
        Field("owner", "Owner (user or queue)", "choice", tuple(owners), form_key="new"),
        Field("profile_id", "Server profile", "id_choice", (("", "(none yet)"), *listed), form_key="new"),
    ]  # fmt: skip


@router.post("/mailboxes", response_model=None)
async def create_mailbox(request: Request, tidings: TidingsDep, visitor: FormVisitor) -> Response:
    # A refusal is the not-authorized page; only what the form got wrong is shown on it.
    visitor.require(Privilege.WRITE_MAILBOXES)
    form = await request.form()
    fields = new_mailbox_fields(owner_choices(tidings, visitor), _profiles(tidings, visitor))
    try:
        values = changes_from(form, fields, MailboxCreate)
        profile_id = values.get("profile_id")
        detail = tidings.mailbox_setup.create(
            visitor.caller, address=str(values["address"]), owner=_owner(str(values["owner"])),
            profile_id=profile_id if isinstance(profile_id, int) else None,
        )  # fmt: skip
    except UserError as error:
        params = {"view": MailboxView.ALL.value}
        posted = refused("new-mailbox", form, error, fields)
        return grid_page(
            request, tidings, visitor, params, status=form_status(error), posted=posted
        )
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
    field_errors: dict[str, str] | None = None,
    submitted: FormData | None = None,
    posted: Posted | None = None,
) -> HTMLResponse:
    detail = tidings.mailbox_setup.get(visitor.caller, mailbox_id)
    sync = tidings.queries.mailbox_sync_state(mailbox_id, visitor.caller)
    profiles = _profiles(tidings, visitor)
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
        fields=mailbox_fields(profiles),
        field_errors=field_errors or {},
        submitted=submitted,
        posted=posted,
        credential_fields=CREDENTIAL_FIELDS,
    )


def _profiles(tidings: TidingsDep, visitor: Visitor) -> list[ProfileView]:
    if not visitor.can(Privilege.READ_SERVER_PROFILES):
        return []
    return tidings.server_profiles.list_profiles(visitor.caller)


def mailbox_fields(profiles: list[ProfileView]) -> list[Field]:
    """The mailbox record's form: each field read and checked as the API checks it."""
    listed = tuple((str(v.profile.id), v.profile.name) for v in profiles)
    methods = choices_of(SyncMethod)
    return [
        Field("address", "Email address", required=True, hint="A new address must be approved again."),
        Field("profile_id", "Server profile", "id_choice", (("", "(none)"), *listed)),
        Field("incoming_method", "Incoming email", "choice", methods),
        Field("outgoing_method", "Outgoing email", "choice", methods),
    ]  # fmt: skip


def _read_mailbox_form(form: FormData, fields: list[Field]) -> dict[str, object]:
    """The changes, or ``FieldErrors`` naming every field's problem, the address's too."""
    errors: dict[str, str] = {}
    changes: dict[str, object] = {}
    try:
        changes = changes_from(form, fields, MailboxUpdate)
    except FieldErrors as error:
        errors = error.errors
    address = form.get("address")
    if not isinstance(address, str) or not is_email_address(normalize_address(address)):
        errors.setdefault("address", "enter an email address, such as dana@example.com")
    if errors:
        raise FieldErrors(errors, {f.name: f.label for f in fields})
    return changes


@router.post("/mailboxes/{mailbox_id}", response_model=None)
async def save_mailbox(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, mailbox_id: PathId
) -> Response:
    """Every field's problem at once, each beside its field; nothing saved until all pass."""
    form = await request.form()
    fields = mailbox_fields(_profiles(tidings, visitor))
    try:
        changes = _read_mailbox_form(form, fields)
        tidings.mailbox_setup.update(visitor.caller, mailbox_id, changes)
    except UserError as error:
        return _detail_page(
            request, tidings, visitor, mailbox_id, status=form_status(error), error=str(error),
            field_errors=error.errors if isinstance(error, FieldErrors) else {}, submitted=form,
        )  # fmt: skip
    return RedirectResponse(f"/mailboxes/{mailbox_id}?done=saved", status_code=303)


CREDENTIAL_FIELDS = [
    Field("direction", "For", "choice", tuple((d.value, f"{d.value} server") for d in Direction), form_key="cr"),
    Field("username", "User name", required=True, form_key="cr"),
    Field("password", "Password", "password", hint="Stored encrypted; never shown again.", form_key="cr"),
]  # fmt: skip


@router.post("/mailboxes/{mailbox_id}/credentials", response_model=None)
async def set_credentials(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, mailbox_id: PathId
) -> Response:
    """The mailbox's login: each field's problem beside it; the password never shown again."""
    form = await request.form()
    try:
        values = changes_from(form, CREDENTIAL_FIELDS, CredentialsIn)
        tidings.mailboxes.set_credentials(
            visitor.caller, mailbox_id, str(values["username"]), str(values["password"]),
            Direction(str(values["direction"])),
        )  # fmt: skip
    except UserError as error:
        return _detail_page(
            request, tidings, visitor, mailbox_id, status=form_status(error),
            posted=refused("credentials", form, error, CREDENTIAL_FIELDS),
        )  # fmt: skip
    return RedirectResponse(f"/mailboxes/{mailbox_id}?done=saved", status_code=303)
