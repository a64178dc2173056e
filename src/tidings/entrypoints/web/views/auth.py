"""Sign in and sign out."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from tidings.bootstrap import Tidings
from tidings.domain.errors import SignInThrottledError
from tidings.domain.records import MAX_ADDRESS_LENGTH
from tidings.entrypoints.api.deps import TidingsDep, client_address
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import (
    COOKIE,
    SIGN_IN_COOKIE,
    FormVisitor,
    check_same_origin,
    close_session,
    open_session,
)
from tidings.services.sign_in_forms import FORM_LIFETIME

router = APIRouter(include_in_schema=False)


def _local(next_url: str | None) -> str:
    """Only a path on this site: never an open redirect to another one."""
    if next_url and next_url.startswith("/") and not next_url.startswith(("//", "/\\")):
        return next_url
    return "/"


@router.get("/signin")
def sign_in_page(request: Request, tidings: TidingsDep, next: str | None = None) -> HTMLResponse:
    return _sign_in_form(request, tidings, next=_local(next), email="")


@router.post("/signin", response_model=None)
def sign_in(
    request: Request,
    tidings: TidingsDep,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
    csrf_token: Annotated[str | None, Form()] = None,
) -> Response:
    check_same_origin(request)
    # What was typed comes back (never the password), bounded as an address is.
    again = {"next": _local(next), "email": email[:MAX_ADDRESS_LENGTH]}
    if not tidings.sign_in_forms.check(request.cookies.get(SIGN_IN_COOKIE), csrf_token):
        # Checked before the password: a forged form learns nothing and counts nothing.
        error = "The sign-in form was too old or came from another site; please sign in again."
        return _sign_in_form(request, tidings, status_code=403, error=error, **again)
    missing = {
        name: message
        for name, message, value in (
            ("email", "enter your email address", email),
            ("password", "enter your password", password),
        )
        if not value.strip()
    }
    if missing:
        return _sign_in_form(
            request, tidings, status_code=422, field_errors=missing,
            error="Please correct the fields marked below.", **again,
        )  # fmt: skip
    try:
        signed_in = tidings.access.sign_in(email, password, client_address(request))
    except SignInThrottledError as error:
        response = _sign_in_form(
            request,
            tidings,
            status_code=429,
            error=f"Too many failed sign-ins. Wait {error.retry_after_seconds} seconds, "
            "then try again.",
            **again,
        )
        response.headers["Retry-After"] = str(error.retry_after_seconds)
        return response
    if signed_in is None:
        error_text = "That email address and password do not match a Tidings user."
        return _sign_in_form(request, tidings, status_code=401, error=error_text, **again)
    done = RedirectResponse(_local(next), status_code=303)
    open_session(done, request, signed_in.token)
    done.delete_cookie(SIGN_IN_COOKIE, path="/signin")
    return done


def _sign_in_form(
    request: Request, tidings: Tidings, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """The sign-in page with a fresh form token, its sealed twin set as a cookie."""
    token = tidings.sign_in_forms.issue()
    response = page(
        request, "signin.html", None, status_code=status_code, csrf_token=token.field, **context
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token.cookie,
        max_age=int(FORM_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/signin",
    )
    return response


@router.post("/signout")
def sign_out(request: Request, tidings: TidingsDep, visitor: FormVisitor) -> RedirectResponse:
    token = request.cookies.get(COOKIE)
    if token:
        tidings.access.sign_out(token)
    response = RedirectResponse("/signin?done=signed-out", status_code=303)
    close_session(response)
    return response
