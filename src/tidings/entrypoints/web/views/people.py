"""Users, queues and security roles: who signs in, who may track, and what each role allows."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tidings.domain.access_levels import BusinessUnit
from tidings.domain.errors import NotFoundError, UserError
from tidings.domain.people import Privilege, SecurityRole, TrackIncoming
from tidings.entrypoints.api.deps import TidingsDep
from tidings.entrypoints.api.people_schemas import (
    PasswordIn,
    QueueCreate,
    RoleCreate,
    RoleUpdate,
    UserCreate,
    UserUpdate,
)
from tidings.entrypoints.api.people_schemas import RoleIds as RoleIdsIn
from tidings.entrypoints.web.forms import (
    Field,
    Posted,
    changes_from,
    changes_of,
    form_status,
    refused,
)
from tidings.entrypoints.web.params import MAX_ID, PathId
from tidings.entrypoints.web.render import page
from tidings.entrypoints.web.session import FormVisitor, Visitor, VisitorDep
from tidings.entrypoints.web.views.admin_grids import user_grid_context
from tidings.services.people import NewMailbox
from tidings.services.server_profiles import ProfileView

router = APIRouter(include_in_schema=False)


def _role_choices(roles: list[SecurityRole]) -> tuple[tuple[str, str], ...]:
    return tuple((str(r.id), r.name) for r in roles)


def user_fields(roles: list[SecurityRole]) -> list[Field]:
    """The New user form's own fields, checked as the API's ``UserCreate``."""
    return [
        Field("full_name", "Full name", required=True),
        Field("email", "Email address", "email", required=True),
        Field("password", "Password (to sign in to Tidings)", "password"),
        Field("role_id", "Security roles", "id_choices", _role_choices(roles), api_name="role_ids"),
    ]


def mailbox_fields(profiles: list[ProfileView]) -> list[Field]:
    """The New user form's mailbox part."""
    listed = tuple((str(v.profile.id), v.profile.name) for v in profiles)
    return [
        Field("create_mailbox", "Create the user's mailbox", "bool"),
        Field("mailbox_address", "Mailbox address", "email", hint="Empty: the user's email address."),
        Field("mailbox_profile_id", "Server profile", "id_choice", (("", "(none yet)"), *listed)),
    ]  # fmt: skip


def queue_fields(roles: list[SecurityRole]) -> list[Field]:
    """The New queue form, checked as the API's ``QueueCreate``."""
    return [
        Field("name", "Name", required=True, form_key="queue"),
        Field("email", "Email address", "email", required=True, form_key="queue"),
        Field("role_id", "Security roles", "id_choices", _role_choices(roles), api_name="role_ids", form_key="queue"),
    ]  # fmt: skip


def _profiles(tidings: TidingsDep, visitor: Visitor) -> list[ProfileView]:
    if not visitor.can(Privilege.READ_SERVER_PROFILES):
        return []
    return tidings.server_profiles.list_profiles(visitor.caller)


def _users_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    *,
    status: int = 200,
    posted: Posted | None = None,
) -> HTMLResponse:
    roles = tidings.people.list_roles(visitor.caller)
    profiles = _profiles(tidings, visitor)
    return page(
        request,
        "users.html",
        visitor,
        status_code=status,
        **user_grid_context(tidings, visitor, dict(request.query_params)),
        queues=tidings.people.list_queues(visitor.caller),
        roles=roles,
        profiles=profiles,
        user_fields=user_fields(roles),
        mailbox_fields=mailbox_fields(profiles),
        queue_fields=queue_fields(roles),
        queue_roles_field=lambda queue_id: queue_roles_field(queue_id, roles),
        posted=posted,
    )


@router.get("/users")
def user_list(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    return _users_page(request, tidings, visitor)


@router.post("/users", response_model=None)
async def create_user(request: Request, tidings: TidingsDep, visitor: FormVisitor) -> Response:
    """A new user, and with *Create a mailbox* ticked the user's mailbox as well; every
    field's problem at once, nothing created until all pass."""
    form = await request.form()
    roles = tidings.people.list_roles(visitor.caller)
    fields = user_fields(roles)
    extra = mailbox_fields(_profiles(tidings, visitor))
    try:
        user_values, mailbox_values = changes_of(form, (fields, UserCreate), (extra, None))
        mailbox = None
        if mailbox_values.get("create_mailbox"):
            profile_id = mailbox_values.get("mailbox_profile_id")
            mailbox = NewMailbox(
                str(mailbox_values.get("mailbox_address") or ""),
                profile_id if isinstance(profile_id, int) else None,
            )
        user = tidings.people.create_user(
            visitor.caller, full_name=str(user_values["full_name"]),
            email=str(user_values["email"]), password=_text_or_none(user_values.get("password")),
            role_ids=_ids(user_values.get("role_ids")), mailbox=mailbox,
        )  # fmt: skip
    except UserError as error:
        posted = refused("user", form, error, [*fields, *extra])
        return _users_page(request, tidings, visitor, status=form_status(error), posted=posted)
    return RedirectResponse(f"/users/{user.id}?done=created", status_code=303)


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _ids(value: object) -> list[int]:
    return [v for v in value if isinstance(v, int)] if isinstance(value, list) else []


@router.post("/queues", response_model=None)
async def create_queue(request: Request, tidings: TidingsDep, visitor: FormVisitor) -> Response:
    form = await request.form()
    fields = queue_fields(tidings.people.list_roles(visitor.caller))
    try:
        values = changes_from(form, fields, QueueCreate)
        tidings.people.create_queue(
            visitor.caller, name=str(values["name"]), email=str(values["email"]),
            role_ids=_ids(values.get("role_ids")),
        )  # fmt: skip
    except UserError as error:
        posted = refused("queue", form, error, fields)
        return _users_page(request, tidings, visitor, status=form_status(error), posted=posted)
    return RedirectResponse("/users?done=created", status_code=303)


@router.get("/users/{user_id}")
def user_detail(
    request: Request, tidings: TidingsDep, visitor: VisitorDep, user_id: PathId
) -> HTMLResponse:
    return user_page(request, tidings, visitor, user_id)


USER_FIELDS = [
    Field("full_name", "Full name", required=True),
    Field("email", "Email address", "email", required=True),
    Field("is_active", "Enabled (may sign in)", "bool"),
    Field("password", "New password", "password", hint="Leave empty to keep it."),
]


def roles_field(roles: list[SecurityRole]) -> Field:
    return Field(
        "role_id", "Security roles", "id_choices", _role_choices(roles), api_name="role_ids"
    )


def unit_field(units: list[BusinessUnit]) -> Field:
    return Field("unit", "Business unit", "id_choice", tuple((str(u.id), u.name) for u in units), api_name="business_unit_id")  # fmt: skip


def user_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    user_id: int,
    *,
    status: int = 200,
    posted: Posted | None = None,
) -> HTMLResponse:
    user = tidings.people.get_user(visitor.caller, user_id)
    roles = tidings.people.list_roles(visitor.caller)
    units = tidings.business_units.list_units(visitor.caller)
    return page(
        request,
        "user.html",
        visitor,
        status_code=status,
        user=user,
        held=[r.id for r in user.roles],
        roles=roles,
        units=units,
        choices=list(TrackIncoming),
        fields=USER_FIELDS,
        roles_field=roles_field(roles),
        unit_field=unit_field(units),
        posted=posted,
    )


@router.post("/users/{user_id}", response_model=None)
async def save_user(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, user_id: PathId
) -> Response:
    form = await request.form()
    user_part, password_part = USER_FIELDS[:3], USER_FIELDS[3:]
    typed = form.get("password")
    # A new password is checked as the API's own; empty keeps the current one.
    password_model = PasswordIn if isinstance(typed, str) and typed.strip() else None
    try:
        values, secret = changes_of(form, (user_part, UserUpdate), (password_part, password_model))
        password = secret.get("password")
        tidings.people.update_user(
            visitor.caller, user_id, full_name=str(values["full_name"]),
            email=str(values["email"]), is_active=bool(values["is_active"]),
        )  # fmt: skip
        if isinstance(password, str):
            tidings.people.set_password(visitor.caller, user_id, password)
    except UserError as error:
        posted = refused("user", form, error, USER_FIELDS)
        return user_page(
            request, tidings, visitor, user_id, status=form_status(error), posted=posted
        )
    return RedirectResponse(f"/users/{user_id}?done=saved", status_code=303)


@router.post("/users/{user_id}/roles", response_model=None)
async def assign_roles(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, user_id: PathId
) -> Response:
    form = await request.form()
    field = roles_field(tidings.people.list_roles(visitor.caller))
    try:
        values = changes_from(form, [field], RoleIdsIn)
        tidings.people.assign_user_roles(visitor.caller, user_id, _ids(values.get("role_ids")))
    except UserError as error:
        posted = refused("roles", form, error, [field])
        return user_page(
            request, tidings, visitor, user_id, status=form_status(error), posted=posted
        )
    return RedirectResponse(f"/users/{user_id}?done=saved", status_code=303)


def role_fields(key: str) -> list[Field]:
    """A role's form on the Security roles page (``key``: ``new`` or the role's id)."""
    privileges = tuple((p.value, p.value.replace("_", " ")) for p in Privilege)
    return [
        Field("name", "Name", required=True, form_key=f"role-{key}"),
        Field("privilege", "Privileges", "multi_choice", privileges, api_name="privileges", form_key=f"role-{key}"),
    ]  # fmt: skip


def _roles_page(
    request: Request,
    tidings: TidingsDep,
    visitor: Visitor,
    *,
    status: int = 200,
    posted: Posted | None = None,
) -> HTMLResponse:
    return page(
        request,
        "roles.html",
        visitor,
        status_code=status,
        roles=tidings.people.list_roles(visitor.caller),
        privileges=list(Privilege),
        role_fields=role_fields,
        posted=posted,
    )


@router.get("/roles")
def role_list(request: Request, tidings: TidingsDep, visitor: VisitorDep) -> HTMLResponse:
    return _roles_page(request, tidings, visitor)


@router.post("/roles", response_model=None)
async def save_roles(request: Request, tidings: TidingsDep, visitor: FormVisitor) -> Response:
    """Create a role, or (with ``role``, the role's id) rename it and set its privileges."""
    form = await request.form()
    raw = form.get("role")
    role = _form_id(raw)
    if raw not in (None, "") and role is None:
        raise NotFoundError("no such security role")
    key = "new" if role is None else str(role)
    fields = role_fields(key)
    try:
        if role is None:
            values = changes_from(form, fields, RoleCreate)
            tidings.people.create_role(
                visitor.caller, name=str(values["name"]), privileges=_texts(values["privileges"])
            )
        else:
            values = changes_from(form, fields, RoleUpdate)
            tidings.people.update_role(
                visitor.caller, role, name=str(values["name"]),
                privileges=_texts(values["privileges"]),
            )  # fmt: skip
    except UserError as error:
        posted = refused(f"role-{key}", form, error, fields)
        return _roles_page(request, tidings, visitor, status=form_status(error), posted=posted)
    return RedirectResponse("/roles?done=saved", status_code=303)


def _form_id(raw: object) -> int | None:
    """A record's id posted in a hidden field, or None when it is none."""
    text = raw.strip() if isinstance(raw, str) else ""
    if text.isascii() and text.isdigit() and len(text) <= 10 and 1 <= int(text) <= MAX_ID:
        return int(text)
    return None


def _texts(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def queue_roles_field(queue_id: int, roles: list[SecurityRole]) -> Field:
    """A queue's roles, ticked in its row of the Queues table."""
    return Field("role_id", "Security roles", "id_choices", _role_choices(roles), api_name="role_ids", form_key=f"queue-{queue_id}")  # fmt: skip


@router.post("/queues/{queue_id}/roles", response_model=None)
async def assign_queue_roles(
    request: Request, tidings: TidingsDep, visitor: FormVisitor, queue_id: PathId
) -> Response:
    form = await request.form()
    field = queue_roles_field(queue_id, tidings.people.list_roles(visitor.caller))
    try:
        values = changes_from(form, [field], RoleIdsIn)
        tidings.people.update_queue(visitor.caller, queue_id, role_ids=_ids(values["role_ids"]))
    except UserError as error:
        posted = refused(f"queue-{queue_id}", form, error, [field])
        return _users_page(request, tidings, visitor, status=form_status(error), posted=posted)
    return RedirectResponse("/users?done=saved", status_code=303)
