"""API tokens: each user creates and revokes their own; a new token is shown once."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.confirm import ask_first
from tidings.entrypoints.web.params import PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, VisitorDep

router = APIRouter(include_in_schema=False)


@router.get("/tokens")
def token_list(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    return page(request, "tokens.html", visitor, tokens=tidings.access.api_tokens(visitor.caller))


@router.post("/tokens")
def create_token(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    name: Annotated[str, Form()],
) -> HTMLResponse:
    new = tidings.access.create_api_token(visitor.caller, name)
    return page(
        request,
        "tokens.html",
        visitor,
        tokens=tidings.access.api_tokens(visitor.caller),
        new_token=new,
    )


@router.post("/tokens/{token_id}/revoke", response_model=None)
async def revoke_token(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, token_id: PathId
) -> Response:
    tidings.access.require_api_token(visitor.caller, token_id)  # not found before asking
    asked = await ask_first(
        request, visitor, question="Revoke this API token? Whatever uses it is refused from now on.",
        verb="Revoke", back="/tokens",
    )  # fmt: skip
    if asked is not None:
        return asked
    tidings.access.revoke_api_token(visitor.caller, token_id)
    return RedirectResponse("/tokens?done=token-revoked", status_code=303)
