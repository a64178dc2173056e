"""Users, queues and security roles: who signs in, who may track, and what each role allows."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.errors import UserError
from tidings.domain.people import Privilege, TrackIncoming
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.web.params import FormIds, OptionalFormId, PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.entrypoints.web.views.admin_grids import user_grid_context
from tidings.services.people import NewMailbox

router = APIRouter(include_in_schema=False)

RoleIds = FormIds


def _users_page(
    request: Request, tidings: TidingsDep, visitor: Visitor, *, status: int = 200, **extra: object
) -> HTMLResponse:
    return page(
        request,
        "users.html",
        visitor,
        status_code=status,
        **user_grid_context(tidings, visitor, dict(request.query_params)),
        queues=tidings.people.list_queues(visitor.caller),
        roles=tidings.people.list_roles(visitor.caller),
        profiles=(
            tidings.server_profiles.list_profiles(visitor.caller)
            if visitor.can(Privilege.READ_SERVER_PROFILES)
            else []
        ),
        **extra,
    )


@router.get("/users")
def user_list(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    return _users_page(request, tidings, visitor)


@router.post("/users", response_model=None)
def create_user(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    full_name: Annotated[str, Form()],
    email: Annotated[str, Form()],
    password: Annotated[str, Form()] = "",
    role_id: RoleIds = None,
    create_mailbox: Annotated[Literal["yes", "no"], Form()] = "no",
    mailbox_address: Annotated[str, Form(max_length=320)] = "",
    mailbox_profile_id: OptionalFormId = None,
) -> Response:
    """A new user, and with *Create a mailbox* ticked the user's mailbox as well."""
    mailbox = (
        NewMailbox(mailbox_address.strip(), mailbox_profile_id) if create_mailbox == "yes" else None
    )
    try:
        user = tidings.people.create_user(
            visitor.caller, full_name=full_name, email=email, password=password or None,
            role_ids=role_id or [], mailbox=mailbox,
        )  # fmt: skip
    except UserError as error:
        return _users_page(request, tidings, visitor, status=400, error=str(error))
    return RedirectResponse(f"/users/{user.id}?done=created", status_code=303)


@router.post("/queues", response_model=None)
def create_queue(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    name: Annotated[str, Form()],
    email: Annotated[str, Form()],
    role_id: RoleIds = None,
) -> Response:
    try:
        tidings.people.create_queue(visitor.caller, name=name, email=email, role_ids=role_id or [])
    except UserError as error:
        return _users_page(request, tidings, visitor, status=400, error=str(error))
    return RedirectResponse("/users?done=created", status_code=303)


@router.get("/users/{user_id}")
def user_detail(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, user_id: PathId
) -> HTMLResponse:
    return _user_page(request, tidings, visitor, user_id)


def _user_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    user_id: int,
    *,
    status: int = 200,
    error: str | None = None,
) -> HTMLResponse:
    user = tidings.people.get_user(visitor.caller, user_id)
    return page(
        request,
        "user.html",
        visitor,
        status_code=status,
        user=user,
        held={r.id for r in user.roles},
        roles=tidings.people.list_roles(visitor.caller),
        units=tidings.business_units.list_units(visitor.caller),
        choices=list(TrackIncoming),
        error=error,
    )


@router.post("/users/{user_id}", response_model=None)
def save_user(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    user_id: PathId,
    full_name: Annotated[str, Form()],
    email: Annotated[str, Form()],
    is_active: Annotated[bool, Form()] = False,
    password: Annotated[str, Form()] = "",
) -> Response:
    try:
        tidings.people.update_user(
            visitor.caller, user_id, full_name=full_name, email=email, is_active=is_active
        )
        if password:
            tidings.people.set_password(visitor.caller, user_id, password)
    except UserError as error:
        return _user_page(request, tidings, visitor, user_id, status=400, error=str(error))
    return RedirectResponse(f"/users/{user_id}?done=saved", status_code=303)


@router.post("/users/{user_id}/roles")
def assign_roles(
    tidings: TidingsDep, visitor: FormVisitor, user_id: PathId, role_id: RoleIds = None
) -> RedirectResponse:
    tidings.people.assign_user_roles(visitor.caller, user_id, role_id or [])
    return RedirectResponse(f"/users/{user_id}?done=saved", status_code=303)


@router.get("/roles")
def role_list(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    return page(
        request,
        "roles.html",
        visitor,
        roles=tidings.people.list_roles(visitor.caller),
        privileges=list(Privilege),
    )


@router.post("/roles", response_model=None)
def save_roles(
    request: Request,
    tidings: TidingsDep,
    visitor: FormVisitor,
    name: Annotated[str, Form()],
    role: OptionalFormId = None,
    privilege: Annotated[list[Privilege] | None, Form()] = None,
) -> Response:
    """Create a role, or (with ``role``) rename it and set its privileges."""
    try:
        if role is None:
            tidings.people.create_role(visitor.caller, name=name, privileges=privilege or [])
        else:
            tidings.people.update_role(visitor.caller, role, name=name, privileges=privilege or [])
    except UserError as error:
        return page(
            request, "roles.html", visitor, status_code=400, error=str(error),
            roles=tidings.people.list_roles(visitor.caller), privileges=list(Privilege),
        )  # fmt: skip
    return RedirectResponse("/roles?done=saved", status_code=303)


@router.post("/queues/{queue_id}/roles")
def assign_queue_roles(
    tidings: TidingsDep, visitor: FormVisitor, queue_id: PathId, role_id: RoleIds = None
) -> RedirectResponse:
    tidings.people.update_queue(visitor.caller, queue_id, role_ids=role_id or [])
    return RedirectResponse("/users?done=saved", status_code=303)
