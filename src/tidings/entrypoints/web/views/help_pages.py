"""Help: the documentation, read inside the console (``/help``, ``/help/<page>``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from tidings.domain.errors import NotFoundError
from tidings.entrypoints.web.help import image_file, render
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import VisitorDep

router = APIRouter(include_in_schema=False)

NO_PAGE = "There is no such help page."


@router.get("/help")
def help_index(request: Request, visitor: VisitorDep) -> HTMLResponse:
    return help_page("index", request, visitor)


@router.get("/help/images/{name}", response_model=None)
def help_image(name: str, visitor: VisitorDep) -> FileResponse:
    found = image_file(f"images/{name}")
    if found is None:
        raise NotFoundError(NO_PAGE)
    return FileResponse(found, media_type="image/png")


@router.get("/help/{name:path}")
def help_page(name: str, request: Request, visitor: VisitorDep) -> HTMLResponse:
    rendered = render(name.rstrip("/") or "index")
    if rendered is None:
        raise NotFoundError(NO_PAGE)
    return page(request, "help.html", visitor, title=rendered.title, help=rendered)
