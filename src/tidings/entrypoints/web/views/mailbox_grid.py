"""The Mailboxes grid: system and saved views, filters, sorting, paging, CSV export, and the
command bar's bulk actions with a confirmation page and a result per mailbox."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.errors import ValidationError
from tidings.domain.grid import MAILBOX_COLUMNS, MAILBOX_DEFAULT_SORT, MailboxFilter, MailboxListing
from tidings.domain.mailbox import ApprovalStatus, TestStatus
from tidings.domain.mailbox_views import MailboxView
from tidings.domain.people import Privilege
from tidings.domain.records import RecordKind, RecordRef
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.csv_export import csv_response
from tidings.entrypoints.web.forms import Posted
from tidings.entrypoints.web.grid_state import (
    GridState,
    enum_param,
    id_param,
    owner_param,
    read_grid,
)
from tidings.entrypoints.web.params import FormIds
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.services.mailbox_bulk import BulkAction

router = APIRouter(include_in_schema=False)

FILTERS = ("view", "q", "approval", "incoming", "outgoing", "owner", "profile")
#: "My Mailboxes" is a view of the grid only: the others are domain.mailbox_views'.
MINE = "mine"
SYSTEM_VIEWS = [(v.value, v.label) for v in MailboxView] + [(MINE, "My Mailboxes")]
#: How many mailboxes a confirmation page names before it only counts the rest.
CONFIRM_SHOWN = 100


def mailbox_grid_state(
    path: str, query: dict[str, str] | None, visitor: Visitor
) -> tuple[GridState, MailboxFilter]:
    """The grid's state and the filter it asks for; ``view`` defaults to Active Mailboxes."""
    state = read_grid(path, query or {}, FILTERS, MAILBOX_COLUMNS, MAILBOX_DEFAULT_SORT)
    me = RecordRef(RecordKind.USER, visitor.caller.user.id or 0)
    view_name = state.params.get("view", MailboxView.ACTIVE.value)
    owner = owner_param(state, me)
    if view_name == MINE:
        view, owner = MailboxView.ALL, me
    else:
        view = enum_param(state, "view", MailboxView, "view") or MailboxView.ACTIVE
    text = state.params.get("q")
    found = MailboxFilter(
        view=view,
        approval=enum_param(state, "approval", ApprovalStatus, "email address status"),
        incoming_status=enum_param(state, "incoming", TestStatus, "incoming status"),
        outgoing_status=enum_param(state, "outgoing", TestStatus, "outgoing status"),
        owner=owner,
        profile_id=id_param(state, "profile", "server profile"),
        text=text.strip() if text else None,
    )
    return state, found


def _query_of(request: Request) -> dict[str, str]:
    return dict(request.query_params)


@router.get("/mailboxes", response_model=None)
def mailbox_grid(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, select: str = ""
) -> Response:
    saved = saved_view_target(request, tidings, visitor, "/mailboxes")
    if saved is not None:
        return saved
    return grid_page(request, tidings, visitor, _query_of(request), select_page=select == "page")


def saved_view_target(
    request: Request, tidings: TidingsDep, visitor: Visitor, path: str
) -> RedirectResponse | None:
    """``view=saved:ID`` from the view selector opens the saved view's own URL."""
    view = request.query_params.get("view", "")
    if not view.startswith("saved:"):
        return None
    ident = view.removeprefix("saved:")
    number = int(ident) if ident.isascii() and ident.isdigit() and len(ident) < 10 else 0
    saved = tidings.saved_views.require(visitor.caller, number)
    separator = "&" if saved.query else ""
    return RedirectResponse(f"{path}?{saved.query}{separator}saved={saved.id}", status_code=303)


def grid_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    params: dict[str, str],
    *,
    select_page: bool = False,
    status: int = 200,
    error: str | None = None,
    posted: Posted | None = None,
) -> HTMLResponse:
    """The grid of the view ``params`` describe."""
    # The New mailbox form's fields; imported here, as that form's module imports this one.
    from tidings.entrypoints.web.views.mailboxes import new_mailbox_fields

    state, query = mailbox_grid_state("/mailboxes", params, visitor)
    found = tidings.mailbox_setup.grid(visitor.caller, query, state.sort, state.page)
    owners = owner_choices(tidings, visitor)
    profiles = []
    if visitor.can(Privilege.READ_SERVER_PROFILES):
        profiles = tidings.server_profiles.list_profiles(visitor.caller)
    return page(
        request,
        "mailboxes.html",
        visitor,
        status_code=status,
        grid=state,
        found=found,
        system_views=SYSTEM_VIEWS,
        view_value=state.params.get("view", MailboxView.ACTIVE.value),
        saved_views=tidings.saved_views.list(visitor.caller, "mailboxes"),
        saved_id=params.get("saved", ""),
        approvals=list(ApprovalStatus),
        test_statuses=list(TestStatus),
        actions=[a for a in BulkAction if visitor.can(a.privilege)],
        state=tidings.queries.sync_state(visitor.caller),
        owners=owners,
        profiles=profiles,
        select_page=select_page,
        error=error,
        new_fields=new_mailbox_fields(owners, profiles),
        posted=posted,
    )


def owner_choices(tidings: TidingsDep, visitor: Visitor) -> list[tuple[str, str]]:
    """Who may own a new mailbox: every user and queue, as the New mailbox list offers them."""
    if not visitor.can(Privilege.READ_USERS):
        return []
    owners = [
        (f"user:{u.id}", f"{u.full_name} <{u.email}>")
        for u in tidings.people.list_users(visitor.caller)
    ]
    return owners + [
        (f"queue:{q.id}", f"{q.name} (queue) <{q.email}>")
        for q in tidings.people.list_queues(visitor.caller)
    ]


@router.get("/mailboxes/export.csv")
def export_mailboxes(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> Response:
    """Every mailbox of the current view (all pages), in the grid's order."""
    state, query = mailbox_grid_state("/mailboxes", _query_of(request), visitor)
    rows = tidings.mailbox_setup.export(visitor.caller, query, state.sort)
    return csv_response("mailboxes.csv", _MAILBOX_HEADER, _mailbox_cells(rows))


_MAILBOX_HEADER = (
    "Email address",
    "Owner",
    "Email server profile",
    "Email address status",
    "Incoming email status",
    "Outgoing email status",
    "Incoming sync method",
    "Outgoing sync method",
    "Enabled",
    "Id",
)


def _mailbox_cells(rows: Iterator[MailboxListing]) -> Iterator[tuple[object, ...]]:
    for row in rows:
        m = row.mailbox
        yield (
            m.address,
            row.owner_name,
            row.profile_name,
            m.approval.value,
            m.incoming_status.value,
            m.outgoing_status.value,
            m.incoming_method.value,
            m.outgoing_method.value,
            "yes" if m.enabled else "no",
            m.id,
        )


class _Selection:
    """What a command-bar form chose: ticked mailboxes, or every mailbox of the view."""

    def __init__(self, query: str, everything: bool, ids: list[int] | None) -> None:
        self.query = query[:2000]
        self.everything = everything
        self.ids = list(dict.fromkeys(ids or []))

    def resolve(self, tidings: TidingsDep, visitor: Visitor) -> tuple[list[int], GridState]:
        state, found = mailbox_grid_state("/mailboxes", dict(parse_qsl(self.query)), visitor)
        if self.everything:
            return tidings.mailbox_setup.ids_in_view(visitor.caller, found, state.sort), state
        if not self.ids:
            raise ValidationError("select at least one mailbox, or all mailboxes in the view")
        return self.ids, state


@router.post("/mailboxes/bulk", response_model=None)
def confirm_bulk(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    action: Annotated[BulkAction, Form()],
    query: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "",
    mailbox_id: FormIds = None,
) -> Response:
    """The confirmation page: what the action does and to which mailboxes."""
    selection = _Selection(query, scope == "view", mailbox_id)
    visitor.require(action.privilege)
    try:
        ids, state = selection.resolve(tidings, visitor)
    except ValidationError as error:
        params = dict(parse_qsl(selection.query))
        return grid_page(request, tidings, visitor, params, status=422, error=str(error))
    shown = tidings.mailbox_setup.listings(visitor.caller, ids[:CONFIRM_SHOWN])
    return page(
        request,
        "mailbox_bulk_confirm.html",
        visitor,
        action=action,
        selection=selection,
        total=len(ids),
        shown=shown,
        back=state.link(),
    )


@router.post("/mailboxes/bulk/run", response_model=None)
async def run_bulk(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    action: Annotated[BulkAction, Form()],
    query: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "",
    mailbox_id: FormIds = None,
) -> HTMLResponse:
    """Do it, then show each mailbox's outcome."""
    # As on the confirmation page: lacking the action's privilege is refused outright, not
    # reported as a failure per mailbox.
    visitor.require(action.privilege)
    selection = _Selection(query, scope == "view", mailbox_id)
    try:
        ids, state = selection.resolve(tidings, visitor)
    except ValidationError as error:
        params = dict(parse_qsl(selection.query))
        return grid_page(request, tidings, visitor, params, status=422, error=str(error))
    outcomes = await tidings.mailbox_bulk.run(visitor.caller, action, ids)
    return page(
        request,
        "mailbox_bulk_results.html",
        visitor,
        action=action,
        outcomes=outcomes,
        succeeded=sum(o.succeeded for o in outcomes),
        back=state.link(),
    )
