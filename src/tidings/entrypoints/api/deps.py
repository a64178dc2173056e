"""Dependencies shared by routes: the Tidings services and the authenticated caller."""

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from tidings.bootstrap import Tidings
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, Caller, Privilege

_basic = HTTPBasic(auto_error=False, description="Email address and password of a Tidings user")


def get_tidings(request: Request) -> Tidings:
    tidings: Tidings = request.app.state.tidings
    return tidings


TidingsDep = Annotated[Tidings, Depends(get_tidings)]


def get_caller(
    tidings: TidingsDep,
    credentials: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
) -> Caller:
    """The signed-in user; every route but /healthz depends on this."""
    caller = None
    if credentials is not None:
        caller = tidings.queries.authenticate(credentials.username, credentials.password)
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "sign in with a Tidings user's email address and password",
            headers={"WWW-Authenticate": 'Basic realm="Tidings"'},
        )
    return caller


CallerDep = Annotated[Caller, Depends(get_caller)]


def require(privilege: Privilege) -> Any:
    """A dependency that lets only callers whose roles hold ``privilege`` through."""

    def check(caller: CallerDep) -> Caller:
        if not caller.can(privilege):
            detail = (
                NOT_AUTHORIZED_TO_TRACK
                if privilege in (Privilege.TRACK_EMAIL, Privilege.READ_ACTIVITIES)
                else f"your security roles lack the privilege {privilege.value}"
            )
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail)
        return caller

    return Depends(check)
