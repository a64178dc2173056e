"""The Email server profiles and Users lists as grids: sorted by a header, filtered by text
(and kind or status), paged with totals and exported to CSV, all from the URL as the
Mailboxes grid does it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from tidings.domain.grid import (
    PROFILE_COLUMNS,
    PROFILE_DEFAULT_SORT,
    USER_COLUMNS,
    USER_DEFAULT_SORT,
    ProfileFilter,
    UserFilter,
)
from tidings.domain.server_profile import ServerProfileKind
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.csv_export import csv_response
from tidings.entrypoints.web.grid_state import GridState, enum_param, read_grid
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import Visitor, VisitorDep
from tidings.entrypoints.web.views.profiles import KIND_LABELS
from tidings.services.admin_grids import ProfileRow
from tidings.services.people import UserSummary

router = APIRouter(include_in_schema=False)

PROFILE_FILTERS = ("q", "kind")
USER_FILTERS = ("q", "status")
#: The user grid's status filter, as the URL writes it.
USER_STATUSES = {"enabled": True, "disabled": False}


def _text(state: GridState) -> str | None:
    text = state.params.get("q")
    return text.strip() if text else None


def profile_grid_state(query: dict[str, str]) -> tuple[GridState, ProfileFilter]:
    state = read_grid("/profiles", query, PROFILE_FILTERS, PROFILE_COLUMNS, PROFILE_DEFAULT_SORT)
    kind = enum_param(state, "kind", ServerProfileKind, "kind of profile")
    return state, ProfileFilter(kind=kind, text=_text(state))


def user_grid_state(query: dict[str, str]) -> tuple[GridState, UserFilter]:
    state = read_grid("/users", query, USER_FILTERS, USER_COLUMNS, USER_DEFAULT_SORT)
    status = state.params.get("status")
    if status is not None and status not in USER_STATUSES:
        state.problems.append(f"unknown status {status[:40]!r}; the filter is not applied")
        state.params.pop("status")
        status = None
    active = USER_STATUSES[status] if status is not None else None
    return state, UserFilter(active=active, text=_text(state))


def user_grid_context(
    tidings: TidingsDep, visitor: Visitor, query: dict[str, str]
) -> dict[str, Any]:
    """What the Users page needs of its grid (the page also re-renders a refused form)."""
    state, found = user_grid_state(query)
    rows = tidings.admin_grids.users(visitor.caller, found, state.sort, state.page)
    return {"grid": state, "found": rows}


@router.get("/profiles")
def profile_list(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    state, query = profile_grid_state(dict(request.query_params))
    found = tidings.admin_grids.profiles(visitor.caller, query, state.sort, state.page)
    return page(request, "profiles.html", visitor, grid=state, found=found, kinds=KIND_LABELS)


@router.get("/profiles/export.csv")
def export_profiles(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> Response:
    """Every profile of the current view (all pages), in the grid's order; no secret."""
    state, query = profile_grid_state(dict(request.query_params))
    rows = tidings.admin_grids.export_profiles(visitor.caller, query, state.sort)
    return csv_response("server-profiles.csv", _PROFILE_HEADER, _profile_cells(rows))


@router.get("/users/export.csv")
def export_users(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> Response:
    """Every user of the current view (all pages), in the grid's order; no password."""
    state, query = user_grid_state(dict(request.query_params))
    rows = tidings.admin_grids.export_users(visitor.caller, query, state.sort)
    return csv_response("users.csv", _USER_HEADER, _user_cells(rows))


_PROFILE_HEADER = (
    "Name",
    "Kind",
    "Incoming server",
    "Incoming port",
    "Outgoing server",
    "Outgoing port",
    "Mailboxes",
    "Warnings",
    "Id",
)
_USER_HEADER = ("Full name", "Email", "Security roles", "Status", "Id")


def _profile_cells(rows: Iterator[ProfileRow]) -> Iterator[tuple[object, ...]]:
    for row in rows:
        p = row.profile
        yield (
            p.name,
            KIND_LABELS.get(p.kind.value, p.kind.value),
            p.incoming_host,
            p.incoming_port,
            p.outgoing_host,
            p.outgoing_port,
            row.mailboxes,
            "; ".join(row.warnings),
            p.id,
        )


def _user_cells(rows: Iterator[UserSummary]) -> Iterator[tuple[object, ...]]:
    for user in rows:
        yield (
            user.full_name,
            user.email,
            ", ".join(role.name for role in user.roles),
            "Enabled" if user.is_active else "Disabled",
            user.id,
        )
