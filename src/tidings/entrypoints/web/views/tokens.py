"""API tokens: each user creates and revokes their own; a new token is shown once."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.errors import UserError
from tidings.entrypoints.api.admin_schemas import Name, StrictModel
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.confirm import ask_first
from tidings.entrypoints.web.forms import Field, changes_from, form_status, refused
from tidings.entrypoints.web.params import PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep

router = APIRouter(include_in_schema=False)


class TokenIn(StrictModel):
    """A new token's name, bounded as every name the API takes."""

    name: Name


NAME_FIELD = Field("name", "Name", required=True, form_key="token")


def _tokens_page(
    request: Request, tidings: TidingsDep, visitor: Visitor, *, status: int = 200, **extra: object
) -> HTMLResponse:
    return page(
        request, "tokens.html", visitor, status_code=status, name_field=NAME_FIELD,
        tokens=tidings.access.api_tokens(visitor.caller), **extra,
    )  # fmt: skip


@router.get("/tokens")
def token_list(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    return _tokens_page(request, tidings, visitor)


@router.post("/tokens")
async def create_token(request: Request, tidings: TidingsDep, visitor: FormVisitor) -> HTMLResponse:
    form = await request.form()
    try:
        values = changes_from(form, [NAME_FIELD], TokenIn)
        new = tidings.access.create_api_token(visitor.caller, str(values["name"]))
    except UserError as error:
        posted = refused("token", form, error, [NAME_FIELD])
        return _tokens_page(request, tidings, visitor, status=form_status(error), posted=posted)
    return _tokens_page(request, tidings, visitor, new_token=new)


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
