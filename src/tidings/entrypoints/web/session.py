"""Who is asking: the console's session cookie, CSRF tokens on every form, privilege checks."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response

from tidings.bootstrap import Tidings
from tidings.domain.access import SESSION_LIFETIME, SignInSession
from tidings.domain.errors import NotAuthorizedError
from tidings.domain.people import Caller, Privilege
from tidings.entrypoints.api.deps import TidingsDep

COOKIE = "tidings_session"
#: The sealed half of the sign-in form's double-submit token (services/sign_in_forms.py).
SIGN_IN_COOKIE = "tidings_sign_in"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


class SignInRequired(Exception):
    """No valid session: the console sends the browser to the sign-in page."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


@dataclass(frozen=True)
class Visitor:
    """A signed-in person using the console."""

    caller: Caller
    session: SignInSession

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token

    def can(self, privilege: Privilege) -> bool:
        return self.caller.can(privilege)

    def require(self, privilege: Privilege) -> None:
        self.caller.require(privilege)


def get_visitor(request: Request, tidings: TidingsDep) -> Visitor:
    token = request.cookies.get(COOKIE)
    found = tidings.access.session_caller(token) if token else None
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    return Visitor(*found)


VisitorDep = Annotated[Visitor, Depends(get_visitor)]


async def check_csrf(request: Request, visitor: VisitorDep) -> Visitor:
    """Every state-changing request carries the session's CSRF token and comes from here."""
    check_same_origin(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if sent is None or not secrets.compare_digest(sent, visitor.csrf_token):
        raise NotAuthorizedError(
            "the form was too old or came from another site; reload the page and try again"
        )
    return visitor


FormVisitor = Annotated[Visitor, Depends(check_csrf)]


def check_same_origin(request: Request) -> None:
    """Browsers name the page a form came from; refuse forms posted from other sites."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    # "null" is what a sandboxed frame (such as an email's body) sends: never trusted.
    if origin == "null" or urlsplit(origin).netloc != request.url.netloc:
        raise NotAuthorizedError("requests from other sites are refused")


def open_session(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )


def close_session(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/")


def tidings_of(request: Request) -> Tidings:
    tidings: Tidings = request.app.state.tidings
    return tidings
