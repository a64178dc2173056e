"""Personal views: save the grid as it is now under a name, rename it, delete it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse

from tidings.domain.grid import GRIDS
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.params import PathId
from tidings.entrypoints.web.session import FormVisitor

router = APIRouter(include_in_schema=False)


def _opened(grid: str, query: str, view_id: int | None) -> str:
    parts = [part for part in (query, f"saved={view_id}" if view_id else "") if part]
    return f"/{grid}" + ("?" + "&".join(parts) if parts else "")


@router.post("/views")
def save_view(
    tidings: TidingsDep,
    visitor: FormVisitor,
    grid: Annotated[str, Form(max_length=40)],
    name: Annotated[str, Form(max_length=1000)],
    query: Annotated[str, Form(max_length=4000)] = "",
) -> RedirectResponse:
    saved = tidings.saved_views.save(visitor.caller, grid, name, query)
    return RedirectResponse(_opened(saved.grid, saved.query, saved.id), status_code=303)


@router.post("/views/{view_id}/rename")
def rename_view(
    tidings: TidingsDep,
    visitor: FormVisitor,
    view_id: PathId,
    name: Annotated[str, Form(max_length=1000)],
) -> RedirectResponse:
    tidings.saved_views.rename(visitor.caller, view_id, name)
    saved = tidings.saved_views.require(visitor.caller, view_id)
    return RedirectResponse(_opened(saved.grid, saved.query, saved.id), status_code=303)


@router.post("/views/{view_id}/delete")
def delete_view(tidings: TidingsDep, visitor: FormVisitor, view_id: PathId) -> RedirectResponse:
    saved = tidings.saved_views.require(visitor.caller, view_id)
    tidings.saved_views.delete(visitor.caller, view_id)
    grid = saved.grid if saved.grid in GRIDS else GRIDS[0]
    return RedirectResponse(f"/{grid}?done=deleted", status_code=303)
