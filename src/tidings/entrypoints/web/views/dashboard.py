"""The dashboard: mailboxes by state, email tracked per hour, parked email."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from tidings.domain.errors import NotAuthorizedError
from tidings.domain.mailbox_views import MailboxView
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, Privilege
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import VisitorDep

router = APIRouter(include_in_schema=False)

_ADMIN_AREAS = (
    Privilege.READ_MAILBOXES,
    Privilege.READ_SERVER_PROFILES,
    Privilege.READ_SETTINGS,
    Privilege.READ_USERS,
)


@router.get("/")
def dashboard(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    may_track = visitor.can(Privilege.TRACK_EMAIL)
    if not may_track and not any(visitor.can(p) for p in _ADMIN_AREAS):
        # A user without the tracking role and nothing to administer: D365's own words.
        raise NotAuthorizedError(NOT_AUTHORIZED_TO_TRACK)
    figures = tidings.queries.dashboard(tidings.clock.now(), caller=visitor.caller)
    busiest = max((n for _, n in figures.tracked_per_hour), default=0)
    return page(
        request,
        "dashboard.html",
        visitor,
        figures=figures,
        views=list(MailboxView),
        busiest=busiest,
        may_track=may_track,
        not_authorized=NOT_AUTHORIZED_TO_TRACK,
    )
