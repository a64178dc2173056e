"""Personal views: save the grid as it is now under a name, rename it, delete it."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import StringConstraints
from starlette.datastructures import FormData

from tidings.domain.errors import UserError
from tidings.domain.grid import GRIDS, VIEW_NAME_LENGTH
from tidings.entrypoints.api.admin_schemas import StrictModel, storable
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.forms import (
    RENAME_VIEW_FIELD,
    SAVE_VIEW_FIELD,
    Posted,
    changes_from,
    form_status,
    refused,
)
from tidings.entrypoints.web.params import PathId
from tidings.entrypoints.web.session import FormVisitor, Visitor
from tidings.entrypoints.web.views.activity_grid import activity_grid_page
from tidings.entrypoints.web.views.mailbox_grid import grid_page

router = APIRouter(include_in_schema=False)


def _opened(grid: str, query: str, view_id: int | None) -> str:
    parts = [part for part in (query, f"saved={view_id}" if view_id else "") if part]
    return f"/{grid}" + ("?" + "&".join(parts) if parts else "")


class _ViewName(StrictModel):
    """A view's name, bounded as the views' store keeps it."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=VIEW_NAME_LENGTH), storable]


SAVE_FIELD, RENAME_FIELD = SAVE_VIEW_FIELD, RENAME_VIEW_FIELD


def _grid_again(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    form: FormData,
    posted: Posted,
    status: int,
    grid: str,
) -> Response:
    """The grid the view was saved from, as it was, with the name's problem beside it."""
    raw = form.get("query")
    params = dict(parse_qsl(raw[:4000])) if isinstance(raw, str) else {}
    if grid == "activities":
        return activity_grid_page(request, tidings, visitor, params, status=status, posted=posted)
    return grid_page(request, tidings, visitor, params, status=status, posted=posted)


@router.post("/views", response_model=None)
async def save_view(request: Request, tidings: TidingsDep, visitor: FormVisitor) -> Response:
    form = await request.form()
    grid, query = form.get("grid"), form.get("query")
    grid = grid if isinstance(grid, str) and grid in GRIDS else GRIDS[0]
    try:
        values = changes_from(form, [SAVE_FIELD], _ViewName)
        text = query if isinstance(query, str) else ""
        saved = tidings.saved_views.save(visitor.caller, grid, str(values["name"]), text)
    except UserError as error:
        posted = refused("view", form, error, [SAVE_FIELD])
        return _grid_again(request, tidings, visitor, form, posted, form_status(error), grid)
    return RedirectResponse(_opened(saved.grid, saved.query, saved.id), status_code=303)


@router.post("/views/{view_id}/rename", response_model=None)
async def rename_view(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, view_id: PathId
) -> Response:
    form = await request.form()
    saved = tidings.saved_views.require(visitor.caller, view_id)
    try:
        values = changes_from(form, [RENAME_FIELD], _ViewName)
        tidings.saved_views.rename(visitor.caller, view_id, str(values["name"]))
    except UserError as error:
        posted = refused("rename", form, error, [RENAME_FIELD])
        params = {**dict(parse_qsl(saved.query)), "saved": str(view_id)}
        if saved.grid == "activities":
            return activity_grid_page(
                request, tidings, visitor, params, status=form_status(error), posted=posted
            )
        return grid_page(
            request, tidings, visitor, params, status=form_status(error), posted=posted
        )
    saved = tidings.saved_views.require(visitor.caller, view_id)
    return RedirectResponse(_opened(saved.grid, saved.query, saved.id), status_code=303)


@router.post("/views/{view_id}/delete")
def delete_view(tidings: TidingsDep, visitor: FormVisitor, view_id: PathId) -> RedirectResponse:
    saved = tidings.saved_views.require(visitor.caller, view_id)
    tidings.saved_views.delete(visitor.caller, view_id)
    grid = saved.grid if saved.grid in GRIDS else GRIDS[0]
    return RedirectResponse(f"/{grid}?done=deleted", status_code=303)
