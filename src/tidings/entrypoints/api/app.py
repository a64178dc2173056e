"""The FastAPI application factory."""

from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tidings import __version__
from tidings.bootstrap import Tidings
from tidings.domain.errors import (
    ConflictError,
    NotAuthorizedError,
    NotFoundError,
    TidingsError,
    UserError,
)
from tidings.entrypoints.api.openapi import document_problems
from tidings.entrypoints.api.routes import activities, mailboxes, records, webhooks

PROBLEM = "application/problem+json"


def create_app(tidings: Tidings) -> FastAPI:
    """An app serving ``tidings``; routes reach services through ``app.state.tidings``."""
    app = FastAPI(
        title="Tidings",
        version=__version__,
        description="Server-side email synchronization and tracking for CRM.",
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.tidings = tidings
    app.include_router(activities.router)
    app.include_router(mailboxes.router)
    records.include(app)
    app.include_router(webhooks.router)
    document_problems(app)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness and database reachability; needs no sign-in."""
        tidings.queries.mailboxes()
        return {"status": "ok", "version": __version__}

    @app.exception_handler(TidingsError)
    def tidings_error(request: Request, error: TidingsError) -> JSONResponse:
        return _problem(_status_of(error), str(error))

    @app.exception_handler(RequestValidationError)
    def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc'])}: {item['msg']}"
            for item in error.errors()
        )
        return _problem(422, problems)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/api/docs")

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return _problem(error.status_code, str(error.detail), error.headers)

    return app


def _status_of(error: TidingsError) -> int:
    for kind, status in _STATUS.items():
        if isinstance(error, kind):
            return status
    return 500


_STATUS: dict[type[TidingsError], int] = {
    NotFoundError: 404,
    NotAuthorizedError: 403,
    ConflictError: 409,
    UserError: 400,
}


def _problem(status: int, detail: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An RFC 9457 problem details body."""
    titles = {
        400: "Bad request",
        401: "Not signed in",
        403: "Forbidden",
        404: "Not found",
        409: "Conflict",
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
