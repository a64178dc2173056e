"""Sign in and sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tidings.domain.errors import SignInThrottledError
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import (
    COOKIE,
    FormVisitor,
    check_same_origin,
    close_session,
    open_session,
)

router = APIRouter(include_in_schema=False)


def _local(next_url: str | None) -> str:
    """Only a path on this site: never an open redirect to another one."""
    if next_url and next_url.startswith("/") and not next_url.startswith(("//", "/\\")):
        return next_url
    return "/"


@router.get("/signin")
def sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:
    return page(request, "signin.html", None, next=_local(next), email="")


@router.post("/signin", response_model=None)
def sign_in(
    request: Request,
    tidings: TidingsDep,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    check_same_origin(request)
    try:
        signed_in = tidings.access.sign_in(email, password)
    except SignInThrottledError as error:
        response = page(
            request,
            "signin.html",
            None,
            status_code=429,
            error=str(error),
            next=_local(next),
            email=email,
        )
        response.headers["Retry-After"] = str(error.retry_after_seconds)
        return response
    if signed_in is None:
        return page(
            request,
            "signin.html",
            None,
            status_code=401,
            error="That email address and password do not match a Tidings user.",
            next=_local(next),
            email=email,
        )
    done = RedirectResponse(_local(next), status_code=303)
    open_session(done, request, signed_in.token)
    return done


@router.post("/signout")
def sign_out(request: Request, tidings: TidingsDep, visitor: FormVisitor) -> RedirectResponse:
    token = request.cookies.get(COOKIE)
    if token:
        tidings.access.sign_out(token)
    response = RedirectResponse("/signin?done=signed-out", status_code=303)
    close_session(response)
    return response
