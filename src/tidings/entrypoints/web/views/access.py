"""The role editor with access levels, business units and queue members: D365's Security
Roles grid (a privilege per row, a level per column) and Business Units page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.access_levels import AccessLevel, BusinessUnit
from tidings.domain.errors import UserError
from tidings.domain.people import LEVELLED, Privilege
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.api.people_schemas import (
    BusinessUnitCreate,
    QueueMembers,
    RoleLevels,
    UnitAssignment,
)
from tidings.entrypoints.web.forms import (
    Field,
    Posted,
    changes_from,
    changes_of,
    form_status,
    refused,
)
from tidings.entrypoints.web.params import PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.entrypoints.web.views.people import unit_field, user_page
from tidings.services.people import UserSummary

router = APIRouter(include_in_schema=False)


def level_fields() -> list[Field]:
    """One choice per privilege row, named as the grid posts it, checked as the API's
    ``RoleLevels``; a row left without a level holds none."""
    fields = []
    for privilege in Privilege:
        allowed = (
            list(AccessLevel)
            if privilege in LEVELLED
            else [AccessLevel.NONE, AccessLevel.ORGANIZATION]
        )
        choices = (("", "None"), *((level.value, level.label) for level in allowed))
        label = privilege.value.replace("_", " ")
        fields.append(
            Field(
                f"level-{privilege.value}",
                label,
                "choice",
                choices,
                api_name=f"levels.{privilege.value}",
            )
        )
    return fields  # fmt: skip


def _role_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    role_id: int,
    *,
    status: int = 200,
    posted: Posted | None = None,
) -> HTMLResponse:
    role = tidings.people.get_role(visitor.caller, role_id)
    return page(
        request,
        "role.html",
        visitor,
        status_code=status,
        role=role,
        rows=[(p, role.level_of(p), p in LEVELLED, f) for p, f in zip(Privilege, level_fields(), strict=True)],
        levels=list(AccessLevel),
        plain=(AccessLevel.NONE, AccessLevel.ORGANIZATION),
        posted=posted,
    )  # fmt: skip


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
    """Save the grid: one ``level-<privilege>`` field per row; every row's problem at once."""
    form = await request.form()
    fields = level_fields()
    try:
        # A row left empty holds nothing, as a privilege left out of the API's levels.
        given = any(str(form.get(f.name) or "").strip() for f in fields)
        model = RoleLevels if given else None
        values = changes_from(form, fields, model, blank_is_absent=True)
        chosen = values.get("levels")
        levels = {
            str(p): str(level or AccessLevel.NONE.value)
            for p, level in (chosen.items() if isinstance(chosen, dict) else ())
        }
        tidings.people.set_role_levels(visitor.caller, role_id, levels)
    except UserError as error:
        posted = refused("levels", form, error, fields)
        return _role_page(
            request, tidings, visitor, role_id, status=form_status(error), posted=posted
        )
    return RedirectResponse(f"/roles/{role_id}?done=saved", status_code=303)


def unit_fields(units: list[BusinessUnit]) -> list[Field]:
    """The New business unit form, checked as the API's ``BusinessUnitCreate``."""
    listed = (("", "(the top business unit)"), *((str(u.id), u.name) for u in units))
    return [
        Field("name", "Name", required=True, form_key="unit"),
        Field("parent", "Parent business unit", "id_choice", listed, api_name="parent_id", form_key="unit"),
    ]  # fmt: skip


def member_fields(
    queue_id: int, users: list[UserSummary], units: list[BusinessUnit]
) -> list[Field]:
    """A queue's form on the Business Units page: its unit and its members."""
    key = f"queue-{queue_id}"
    return [
        Field("unit", "Business unit", "id_choice", tuple((str(u.id), u.name) for u in units), api_name="business_unit_id", form_key=key),
        Field("member", "Members", "id_choices", tuple((str(u.id), u.full_name) for u in users), api_name="user_ids", form_key=key),
    ]  # fmt: skip


def _units_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    *,
    status: int = 200,
    posted: Posted | None = None,
    error: str | None = None,
) -> HTMLResponse:
    units = tidings.business_units.list_units(visitor.caller)
    users = tidings.people.list_users(visitor.caller)
    return page(
        request,
        "business_units.html",
        visitor,
        status_code=status,
        units=units,
        names={u.id: u.name for u in units},
        users=users,
        queues=tidings.people.list_queues(visitor.caller),
        unit_fields=unit_fields(units),
        member_fields=lambda queue_id: member_fields(queue_id, users, units),
        posted=posted,
        error=error,
    )


@router.get("/business-units")
def business_units(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    return _units_page(request, tidings, visitor)


@router.post("/business-units", response_model=None)
async def create_unit(request: Request, tidings: TidingsDep, visitor: FormVisitor) -> Response:
    form = await request.form()
    fields = unit_fields(tidings.business_units.list_units(visitor.caller))
    try:
        values = changes_from(form, fields, BusinessUnitCreate)
        parent = values.get("parent_id")
        tidings.business_units.create_unit(
            visitor.caller, name=str(values["name"]),
            parent_id=parent if isinstance(parent, int) else None,
        )  # fmt: skip
    except UserError as error:
        posted = refused("unit", form, error, fields)
        return _units_page(request, tidings, visitor, status=form_status(error), posted=posted)
    return RedirectResponse("/business-units?done=saved", status_code=303)


@router.post("/business-units/{unit_id}/delete", response_model=None)
def delete_unit(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, unit_id: PathId
) -> Response:
    try:
        tidings.business_units.delete_unit(visitor.caller, unit_id)
    except UserError as error:
        return _units_page(request, tidings, visitor, status=form_status(error), error=str(error))
    return RedirectResponse("/business-units?done=saved", status_code=303)


@router.post("/users/{user_id}/business-unit", response_model=None)
async def move_user(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, user_id: PathId
) -> Response:
    """The business unit select of the user form."""
    form = await request.form()
    field = unit_field(tidings.business_units.list_units(visitor.caller))
    try:
        values = changes_from(form, [field], UnitAssignment)
        unit = values["business_unit_id"]
        assert isinstance(unit, int)  # noqa: S101 - an id_choice without "" is an id
        tidings.business_units.move_user(visitor.caller, user_id, unit)
    except UserError as error:
        posted = refused("unit", form, error, [field])
        return user_page(
            request, tidings, visitor, user_id, status=form_status(error), posted=posted
        )
    return RedirectResponse(f"/users/{user_id}?done=saved", status_code=303)


@router.post("/queues/{queue_id}/members", response_model=None)
async def set_members(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, queue_id: PathId
) -> Response:
    """A queue's members and business unit, from the Business Units page."""
    form = await request.form()
    users = tidings.people.list_users(visitor.caller)
    units = tidings.business_units.list_units(visitor.caller)
    unit_part, member_part = member_fields(queue_id, users, units)
    try:
        unit_values, member_values = changes_of(
            form, ([unit_part], UnitAssignment), ([member_part], QueueMembers)
        )
        members = member_values.get("user_ids")
        tidings.business_units.set_queue_members(
            visitor.caller, queue_id, [m for m in members if isinstance(m, int)] if isinstance(members, list) else []
        )  # fmt: skip
        unit = unit_values.get("business_unit_id")
        if isinstance(unit, int):
            tidings.business_units.set_queue_unit(visitor.caller, queue_id, unit)
    except UserError as error:
        posted = refused(f"queue-{queue_id}", form, error, [unit_part, member_part])
        return _units_page(request, tidings, visitor, status=form_status(error), posted=posted)
    return RedirectResponse("/business-units?done=saved", status_code=303)
