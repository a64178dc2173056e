"""The role editor with access levels, business units and queue members: D365's Security
Roles grid (a privilege per row, a level per column) and Business Units page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.access_levels import AccessLevel
from tidings.domain.errors import UserError
from tidings.domain.people import LEVELLED, Privilege
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.params import FormId, FormIds, OptionalFormId, PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep

router = APIRouter(include_in_schema=False)


def _role_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    role_id: int,
    *,
    status: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    role = tidings.people.get_role(visitor.caller, role_id)
    return page(
        request,
        "role.html",
        visitor,
        status_code=status,
        role=role,
        rows=[(p, role.level_of(p), p in LEVELLED) for p in Privilege],
        levels=list(AccessLevel),
        plain=(AccessLevel.NONE, AccessLevel.ORGANIZATION),
        error=error,
    )


@router.get("/roles/{role_id}")
def role_editor(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, role_id: PathId
) -> HTMLResponse:
    """One role's privileges, each with its access level."""
    return _role_page(request, tidings, visitor, role_id)


@router.post("/roles/{role_id}", response_model=None)
async def save_role_levels(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, role_id: PathId
) -> Response:
    """Save the grid: one ``level-<privilege>`` field per row."""
    form = await request.form()
    levels = {
        privilege.value: str(form.get(f"level-{privilege.value}") or AccessLevel.NONE.value)
        for privilege in Privilege
    }
    try:
        tidings.people.set_role_levels(visitor.caller, role_id, levels)
    except UserError as error:
        return _role_page(request, tidings, visitor, role_id, status=400, error=str(error))
    return RedirectResponse(f"/roles/{role_id}?done=saved", status_code=303)


def _units_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    *,
    status: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    units = tidings.business_units.list_units(visitor.caller)
    return page(
        request,
        "business_units.html",
        visitor,
        status_code=status,
        units=units,
        names={u.id: u.name for u in units},
        users=tidings.people.list_users(visitor.caller),
        queues=tidings.people.list_queues(visitor.caller),
        error=error,
    )


@router.get("/business-units")
def business_units(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    return _units_page(request, tidings, visitor)


@router.post("/business-units", response_model=None)
def create_unit(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    name: Annotated[str, Form()],
    parent: OptionalFormId = None,
) -> Response:
    try:
        tidings.business_units.create_unit(visitor.caller, name=name, parent_id=parent)
    except UserError as error:
        return _units_page(request, tidings, visitor, status=400, error=str(error))
    return RedirectResponse("/business-units?done=saved", status_code=303)


@router.post("/business-units/{unit_id}/delete", response_model=None)
def delete_unit(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, unit_id: PathId
) -> Response:
    try:
        tidings.business_units.delete_unit(visitor.caller, unit_id)
    except UserError as error:
        return _units_page(request, tidings, visitor, status=400, error=str(error))
    return RedirectResponse("/business-units?done=saved", status_code=303)


@router.post("/users/{user_id}/business-unit", response_model=None)
def move_user(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, user_id: PathId, unit: FormId
) -> Response:
    """The business unit select of the user form."""
    tidings.business_units.move_user(visitor.caller, user_id, unit)
    return RedirectResponse(f"/users/{user_id}?done=saved", status_code=303)


@router.post("/queues/{queue_id}/members", response_model=None)
def set_members(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    queue_id: PathId,
    member: FormIds = None,
    unit: OptionalFormId = None,
) -> Response:
    """A queue's members and business unit, from the Business Units page."""
    try:
        tidings.business_units.set_queue_members(visitor.caller, queue_id, member or [])
        if unit is not None:
            tidings.business_units.set_queue_unit(visitor.caller, queue_id, unit)
    except UserError as error:
        return _units_page(request, tidings, visitor, status=400, error=str(error))
    return RedirectResponse("/business-units?done=saved", status_code=303)
