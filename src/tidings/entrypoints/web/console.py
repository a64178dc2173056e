"""The web console: pages mounted beside the API, with their own errors and security headers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from tidings.domain.errors import TidingsError
from tidings.entrypoints.web.render import HERE, page
from tidings.entrypoints.web.session import COOKIE, SignInRequired, Visitor, tidings_of
from tidings.entrypoints.web.views import (
    access,
    activities,
    activity_grid,
    addin,
    admin_grids,
    auth,
    dashboard,
    emails,
    folders,
    help_pages,
    mailbox_grid,
    mailboxes,
    options,
    parked,
    people,
    profiles,
    saved_views,
    settings,
    tokens,
)

#: Pages load only what the console serves itself: no inline script, no CDN, no framing.
CONSOLE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
#: The interactive API documentation is Swagger UI, served from the package; its page starts
#: it with one inline script.
DOCS_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


#: Every router of the console, in site-map order.
ROUTERS = tuple(
    views.router
    for views in (
        auth, dashboard, activity_grid, activities, emails, mailbox_grid, mailboxes, folders,
        saved_views, admin_grids, profiles, settings, people, access, options, parked, tokens,
        addin, help_pages,
    )
)  # fmt: skip


def mount_console(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(BaseHTTPMiddleware, dispatch=_security_headers)

    @app.exception_handler(SignInRequired)
    def sign_in_first(request: Request, error: SignInRequired) -> RedirectResponse:
        return RedirectResponse(f"/signin?next={quote(error.next_url, safe='')}", 303)


def is_console_path(path: str) -> bool:
    return not (path.startswith(("/api/", "/healthz", "/readyz", "/metrics")) or path == "/api")


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error shown as a console page, with the top bar (Help, Sign out) and the
    navigation when someone is signed in: a refusal is no reason to lose one's way."""
    return page(
        request, "error.html", _signed_in(request), status_code=status, status=status,
        message=message,
    )  # fmt: skip


def _signed_in(request: Request) -> Visitor | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        found = tidings_of(request).access.session_caller(token)
    except TidingsError:  # the error page itself must not fail
        return None
    return Visitor(*found) if found is not None else None


def invalid_console_request(request: Request, errors: Sequence[Any]) -> HTMLResponse:
    """What FastAPI refused before a page's code ran, said the console's way.

    A URL naming a record by an id no record can have (out of range, not a number) is a page
    that does not exist, whatever its form holds: 404. Anything else is the form's or the
    link's fault: 422, with every field's problem at once. What was typed is not repeated.
    """
    if any(_where(item)[0] == "path" for item in errors):
        return error_page(request, 404, "Not found: no such record.")
    problems = [f"{_field_of(item)}: {item.get('msg', 'not valid')}" for item in errors]
    return error_page(request, 422, "Please correct: " + "; ".join(problems) + ".")


def _where(item: Any) -> tuple[str, ...]:
    return tuple(str(part) for part in item.get("loc", ())) or ("body",)


def _field_of(item: Any) -> str:
    # ("body", "mailbox_id", 0) → "mailbox id"; the first part says only where it was.
    names = [part for part in _where(item)[1:] if not part.isdigit()]
    return " ".join(names).replace("_", " ") or "the request"


async def _security_headers(request: Request, call_next: RequestResponseEndpoint) -> Response:
    response = await call_next(request)
    policy = DOCS_POLICY if request.url.path == "/api/docs" else CONSOLE_POLICY
    # A route that set its own policy (an email body's frame) keeps it.
    response.headers.setdefault("Content-Security-Policy", policy)
    if not request.url.path.startswith("/addin/"):  # Outlook frames the add-in's pages
        response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if is_console_path(request.url.path) and not request.url.path.startswith("/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
