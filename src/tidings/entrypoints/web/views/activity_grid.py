"""The Email activities grid: D365's system views (My Email, All Email, Tracked Today …),
saved views, filters, sorting, paging and CSV export."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tidings.domain.activity import ActivityStatus, Direction, EmailActivity, ParticipationRole
from tidings.domain.grid import (
    ACTIVITY_COLUMNS,
    ACTIVITY_DEFAULT_SORT,
    DateRange,
    GridPage,
    last_page,
)
from tidings.domain.people import Privilege
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.stored import ActivityFilter
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.csv_export import csv_response
from tidings.entrypoints.web.forms import Posted
from tidings.entrypoints.web.grid_state import (
    GridState,
    date_param,
    enum_param,
    id_param,
    owner_param,
    read_grid,
)
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import Visitor, VisitorDep
from tidings.entrypoints.web.views.mailbox_grid import saved_view_target

router = APIRouter(include_in_schema=False)

FILTERS = ("view", "q", "mailbox", "owner", "direction", "status", "from", "to")
SYSTEM_VIEWS = [
    ("all", "All Email"),
    ("mine", "My Email"),
    ("today", "Email Tracked Today"),
    ("received", "Received Email"),
    ("sent", "Sent Email"),
    ("pending", "Email Pending Send"),
]


def activity_grid_state(
    query: dict[str, str], visitor: Visitor, now: datetime
) -> tuple[GridState, ActivityFilter]:
    state = read_grid("/activities", query, FILTERS, ACTIVITY_COLUMNS, ACTIVITY_DEFAULT_SORT)
    me = RecordRef(RecordKind.USER, visitor.caller.user.id or 0)
    view = state.params.get("view", "all")
    if view not in dict(SYSTEM_VIEWS):
        state.problems.append(f"unknown view {view[:40]!r}; showing All Email")
        state.params.pop("view")
        view = "all"
    direction = enum_param(state, "direction", Direction, "direction")
    status = enum_param(state, "status", ActivityStatus, "status")
    owner = owner_param(state, me)
    if view == "mine":
        owner = me
    elif view == "received":
        direction = Direction.INCOMING
    elif view == "sent":
        status = ActivityStatus.SENT
    elif view == "pending":
        status = ActivityStatus.PENDING_SEND
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    text = state.params.get("q")
    found = ActivityFilter(
        mailbox_id=id_param(state, "mailbox", "mailbox"),
        text=text.strip() if text else None,
        direction=direction,
        status=status,
        owner=owner,
        received=DateRange(date_param(state, "from", "from"), date_param(state, "to", "to")),
        created_since=today if view == "today" else None,
        sort=state.sort,
        limit=state.page.size,
        offset=state.page.offset,
    )
    return state, found


@router.get("/activities", response_model=None)
def activity_grid(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> Response:
    visitor.require(Privilege.READ_ACTIVITIES)
    saved = saved_view_target(request, tidings, visitor, "/activities")
    if saved is not None:
        return saved
    return _grid_page(request, tidings, visitor)


def _grid_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    params: dict[str, str] | None = None,
    *,
    status: int = 200,
    posted: Posted | None = None,
) -> HTMLResponse:
    params = dict(request.query_params) if params is None else params
    state, query = activity_grid_state(params, visitor, tidings.clock.now())
    found = tidings.queries.activities(query, visitor.caller)
    shown = last_page(state.page, found.total)
    if shown != state.page:  # past the end: the last page instead
        found = tidings.queries.activities(replace(query, offset=shown.offset), visitor.caller)
    grid = GridPage(found.items, found.total, shown)
    return page(
        request,
        "activities.html",
        visitor,
        status_code=status,
        posted=posted,
        grid=state,
        found=grid,
        names=found.names,
        system_views=SYSTEM_VIEWS,
        view_value=state.params.get("view", "all"),
        saved_views=tidings.saved_views.list(visitor.caller, "activities"),
        saved_id=params.get("saved", ""),
        directions=list(Direction),
        statuses=list(ActivityStatus),
        mailboxes=tidings.queries.mailbox_addresses(visitor.caller),
        sender=ParticipationRole.FROM,
    )


@router.get("/activities/export.csv")
def export_activities(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> Response:
    """Every activity of the current view (all pages), in the grid's order."""
    visitor.require(Privilege.READ_ACTIVITIES)
    _, query = activity_grid_state(dict(request.query_params), visitor, tidings.clock.now())
    addresses = tidings.queries.mailbox_addresses(visitor.caller)
    rows = tidings.queries.export_activities(query, visitor.caller)
    return csv_response("email-activities.csv", _HEADER, _cells(rows, addresses))


_HEADER = (
    "Subject",
    "From",
    "To",
    "Direction",
    "Status",
    "Mailbox",
    "Owner",
    "Regarding",
    "Received",
    "Message-ID",
    "Id",
)


def _cells(
    rows: Iterator[EmailActivity], addresses: dict[int, str]
) -> Iterator[tuple[object, ...]]:
    for a in rows:
        senders = [p.address for p in a.parties if p.role is ParticipationRole.FROM]
        recipients = [p.address for p in a.parties if p.role is ParticipationRole.TO]
        received = a.received_at or a.created_at
        yield (
            a.subject,
            "; ".join(senders),
            "; ".join(recipients),
            a.direction.value,
            a.status.value,
            addresses.get(a.mailbox_id or 0, ""),
            str(a.owner),
            str(a.regarding) if a.regarding else "",
            received.astimezone(UTC).isoformat() if received else "",
            a.message_id or "",
            a.id,
        )


activity_grid_page = _grid_page
