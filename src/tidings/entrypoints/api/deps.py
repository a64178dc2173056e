"""Dependencies shared by routes: the Tidings services and the authenticated caller."""

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from tidings.bootstrap import Tidings
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, TRACKING_FEATURES, Caller, Privilege

_basic = HTTPBasic(auto_error=False, description="Email address and password of a Tidings user")
_bearer = HTTPBearer(
    auto_error=False, description="An API token created in the console (Settings → API tokens)"
)


def get_tidings(request: Request) -> Tidings:
    tidings: Tidings = request.app.state.tidings
    return tidings


TidingsDep = Annotated[Tidings, Depends(get_tidings)]


def client_address(request: Request) -> str | None:
    """Where the request comes from; behind a proxy, what uvicorn's proxy headers say."""
    return request.client.host if request.client else None


def get_caller(
    request: Request,
    tidings: TidingsDep,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The signed-in user; every route but /healthz depends on this.

    The API takes an API token (``Authorization: Bearer tdg_…``) or HTTP Basic; never the
    console's session cookie, so no page on another site can make a browser call the API.
    """
    caller = None
    if bearer is not None:
        caller = tidings.access.token_caller(bearer.credentials)
    elif basic is not None:
        caller = tidings.access.authenticate(
            basic.username, basic.password, client_address(request)
        )
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in with an API token or a Tidings user's email address and password",
            # Bearer only: a Basic challenge would make browsers prompt and then replay the
            # password on every request, including ones other sites trigger.
            headers={"WWW-Authenticate": 'Bearer realm="Tidings"'},
        )
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def require(privilege: Privilege) -> Any:
    """A dependency that lets only callers whose roles hold ``privilege`` through."""

    def check(caller: CallerDep) -> Caller:
        if not caller.can(privilege):
            detail = (
                NOT_AUTHORIZED_TO_TRACK
                if privilege in TRACKING_FEATURES
                else f"your security roles lack the privilege {privilege.value}"
            )
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail)
        return caller

    return Depends(check)
