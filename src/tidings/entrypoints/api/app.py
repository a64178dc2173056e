"""The FastAPI application factory."""

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from tidings import __version__
from tidings.bootstrap import Tidings
from tidings.domain.errors import (
    ConflictError,
    FieldValueError,
    NotAuthorizedError,
    NotFoundError,
    SignInThrottledError,
    TidingsError,
    UnsafeTargetError,
    UserError,
)
from tidings.entrypoints.api.body_limit import BodyLimit
from tidings.entrypoints.api.caching import NoStoreApi
from tidings.entrypoints.api.openapi import document_problems
from tidings.entrypoints.api.routes import (
    activities,
    business_units,
    conversations,
    email_settings,
    emails,
    health,
    mailbox_admin,
    mailbox_bulk,
    mailboxes,
    parked_admin,
    people,
    personal_options,
    push,
    records,
    server_profiles,
    tracking,
    webhooks,
)
from tidings.entrypoints.web.console import (
    error_page,
    invalid_console_request,
    is_console_path,
    mount_console,
)

PROBLEM = "application/problem+json"


def create_app(tidings: Tidings) -> FastAPI:
    """An app serving ``tidings``; routes reach services through ``app.state.tidings``."""
    # Swagger UI's script and styles are served from the package, never from a CDN.
    app = FastAPIOffline(
        title="Tidings",
        version=__version__,
        # Swagger UI shows the description as Markdown, at the top of /api/docs.
        description=(
            "Server-side email synchronization and tracking for CRM. "
            "[Back to the Tidings console](/)"
        ),
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        static_url="/api/docs/static",
        swagger_ui_oauth2_redirect_url="/api/docs/oauth2-redirect",
    )
    app.state.tidings = tidings
    app.add_middleware(NoStoreApi)
    app.add_middleware(BodyLimit)
    app.include_router(activities.router)
    app.include_router(conversations.router)
    app.include_router(emails.router)
    app.include_router(mailboxes.router)
    # Administration: the set-up procedure, each endpoint behind its privilege.
    for router in (
        email_settings.router,
        server_profiles.router,
        mailbox_admin.router,
        mailbox_bulk.router,
        people.router,
        business_units.router,
        personal_options.router,
        tracking.router,
        parked_admin.router,
    ):
        app.include_router(router)
    records.include(app)
    app.include_router(webhooks.router)
    app.include_router(push.router)
    app.include_router(health.router)
    document_problems(app)

    @app.exception_handler(TidingsError)
    def tidings_error(request: Request, error: TidingsError) -> Response:
        status = 429 if isinstance(error, SignInThrottledError) else status_of(error)
        headers = (
            {"Retry-After": str(error.retry_after_seconds)}
            if isinstance(error, SignInThrottledError)
            else None
        )
        detail = str(error)
        if isinstance(error, FieldValueError) and not is_console_path(request.url.path):
            # Said as pydantic says a value the request's schema refused.
            detail = "; ".join(f"body.{f}: {m}" for f, m in error.problems.items())
        return _answer(request, status, detail, headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, error: RequestValidationError) -> Response:
        if is_console_path(request.url.path):
            return invalid_console_request(request, error.errors())
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        return _answer(request, 422, problems)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, error: StarletteHTTPException) -> Response:
        return _answer(request, error.status_code, str(error.detail), error.headers)

    mount_console(app)
    return app


def _answer(
    request: Request, status: int, detail: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A problem document for API clients, an error page for people in the console."""
    if is_console_path(request.url.path):
        response: Response = error_page(request, status, detail)
        response.headers.update(headers or {})
        return response
    return _problem(status, detail, headers)


def status_of(error: TidingsError) -> int:
    """The HTTP status that tells a client what kind of mistake it made."""
    for kind, status in (
        (NotFoundError, 404),
        (NotAuthorizedError, 403),
        (ConflictError, 409),
        (UnsafeTargetError, 422),
        (FieldValueError, 422),
        (UserError, 400),
    ):
        if isinstance(error, kind):
            return status
    return 500


def _problem(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An RFC 9457 problem details body."""
    titles = {
        400: "Bad request",
        401: "Not signed in",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
        429: "Too many requests",
        413: "Too large",
        415: "Unsupported media type",
        422: "Invalid request",
    }
    body = {
        "type": "about:blank",
        "title": titles.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)
