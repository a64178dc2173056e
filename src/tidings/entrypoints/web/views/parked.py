"""Parked email: what failed processing, with its error, and replay, each within the
visitor's reach over mailboxes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from tidings.domain.people import Privilege
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.params import PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, VisitorDep

router = APIRouter(include_in_schema=False)


@router.get("/parked")
def parked_list(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    visitor.require(Privilege.READ_MAILBOXES)
    return page(
        request,
        "parked.html",
        visitor,
        parked=tidings.queries.parked(visitor.caller),
        replayable=tidings.parked.replayable_ids(visitor.caller),
    )


@router.post("/parked/{parked_id}/replay")
def replay_one(tidings: TidingsDep, visitor: FormVisitor, parked_id: PathId) -> RedirectResponse:
    tidings.parked.replay(visitor.caller, parked_id)
    return RedirectResponse("/parked?done=replayed", status_code=303)


@router.post("/parked/replay")
def replay_all(tidings: TidingsDep, visitor: FormVisitor) -> RedirectResponse:
    tidings.parked.replay_all(visitor.caller)
    return RedirectResponse("/parked?done=replayed", status_code=303)
