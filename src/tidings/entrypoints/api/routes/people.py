"""Users, queues and security roles; passwords are write-only."""

from typing import Annotated

from fastapi import APIRouter, status

from tidings.domain.people import Caller, Privilege
from tidings.entrypoints.api.admin_schemas import PROBLEMS, PathId
from tidings.entrypoints.api.deps import CallerDep, TidingsDep, require
from tidings.entrypoints.api.people_schemas import (
    PasswordIn,
    QueueCreate,
    QueuePublic,
    QueueUpdate,
    RoleCreate,
    RoleIds,
    RolePublic,
    RoleUpdate,
    UserCreate,
    UserPublic,
    UserUpdate,
)

router = APIRouter(prefix="/api", tags=["users, queues and security roles"], responses=PROBLEMS)

Reader = Annotated[Caller, require(Privilege.READ_USERS)]
Writer = Annotated[Caller, require(Privilege.WRITE_USERS)]


@router.get("/users", summary="List users")
def list_users(tidings: TidingsDep, caller: Reader) -> list[UserPublic]:
    return [UserPublic.of(u) for u in tidings.people.list_users(caller)]


@router.post("/users", status_code=status.HTTP_201_CREATED, summary="Create a user")
def create_user(body: UserCreate, tidings: TidingsDep, caller: Writer) -> UserPublic:
    """The password, if given, is kept as an argon2 hash and never returned."""
    user = tidings.people.create_user(
        caller,
        full_name=body.full_name,
        email=body.email,
        password=body.password,
        role_ids=body.role_ids,
    )
    return UserPublic.of(user)


@router.get("/users/me", summary="The signed-in user")
def get_me(tidings: TidingsDep, caller: CallerDep) -> UserPublic:
    assert caller.user.id is not None  # noqa: S101 - signed-in users are stored
    return UserPublic.of(tidings.people.get_user(caller, caller.user.id))


@router.get("/users/{user_id}", summary="Read one user")
def get_user(user_id: PathId, tidings: TidingsDep, caller: CallerDep) -> UserPublic:
    """Everyone may read their own; others need read_users."""
    return UserPublic.of(tidings.people.get_user(caller, user_id))


@router.patch("/users/{user_id}", summary="Change a user")
def update_user(
    user_id: PathId, body: UserUpdate, tidings: TidingsDep, caller: Writer
) -> UserPublic:
    """Name, address, or ``is_active: false`` to deactivate."""
    user = tidings.people.update_user(
        caller, user_id, full_name=body.full_name, email=body.email, is_active=body.is_active
    )
    return UserPublic.of(user)


@router.post("/users/{user_id}/deactivate", summary="Deactivate a user")
def deactivate_user(user_id: PathId, tidings: TidingsDep, caller: Writer) -> UserPublic:
    """The user can no longer sign in; their mailbox and activities stay."""
    return UserPublic.of(tidings.people.deactivate_user(caller, user_id))


@router.put(
    "/users/{user_id}/password",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a user's password",
)
def set_password(user_id: PathId, body: PasswordIn, tidings: TidingsDep, caller: CallerDep) -> None:
    """Everyone may set their own; others' need write_users."""
    tidings.people.set_password(caller, user_id, body.password)


@router.put("/users/{user_id}/roles", summary="Assign security roles to a user")
def assign_user_roles(
    user_id: PathId, body: RoleIds, tidings: TidingsDep, caller: Writer
) -> UserPublic:
    return UserPublic.of(tidings.people.assign_user_roles(caller, user_id, body.role_ids))


@router.get("/queues", summary="List queues")
def list_queues(tidings: TidingsDep, caller: Reader) -> list[QueuePublic]:
    return [QueuePublic.of(q) for q in tidings.people.list_queues(caller)]


@router.post("/queues", status_code=status.HTTP_201_CREATED, summary="Create a queue")
def create_queue(body: QueueCreate, tidings: TidingsDep, caller: Writer) -> QueuePublic:
    queue = tidings.people.create_queue(
        caller, name=body.name, email=body.email, role_ids=body.role_ids
    )
    return QueuePublic.of(queue)


@router.get("/queues/{queue_id}", summary="Read one queue")
def get_queue(queue_id: PathId, tidings: TidingsDep, caller: Reader) -> QueuePublic:
    return QueuePublic.of(tidings.people.get_queue(caller, queue_id))


@router.patch("/queues/{queue_id}", summary="Change a queue")
def update_queue(
    queue_id: PathId, body: QueueUpdate, tidings: TidingsDep, caller: Writer
) -> QueuePublic:
    queue = tidings.people.update_queue(
        caller, queue_id, name=body.name, email=body.email, role_ids=body.role_ids
    )
    return QueuePublic.of(queue)


@router.put("/queues/{queue_id}/roles", summary="Assign security roles to a queue")
def assign_queue_roles(
    queue_id: PathId, body: RoleIds, tidings: TidingsDep, caller: Writer
) -> QueuePublic:
    return QueuePublic.of(tidings.people.update_queue(caller, queue_id, role_ids=body.role_ids))


@router.get("/roles", summary="List security roles")
def list_roles(tidings: TidingsDep, caller: Reader) -> list[RolePublic]:
    return [RolePublic.of(r) for r in tidings.people.list_roles(caller)]


@router.post("/roles", status_code=status.HTTP_201_CREATED, summary="Create a security role")
def create_role(body: RoleCreate, tidings: TidingsDep, caller: Writer) -> RolePublic:
    role = tidings.people.create_role(caller, name=body.name, privileges=body.privileges)
    return RolePublic.of(role)


@router.patch("/roles/{role_id}", summary="Rename a role or change its privileges")
def update_role(
    role_id: PathId, body: RoleUpdate, tidings: TidingsDep, caller: Writer
) -> RolePublic:
    """System Administrator keeps every privilege and cannot be changed."""
    role = tidings.people.update_role(caller, role_id, name=body.name, privileges=body.privileges)
    return RolePublic.of(role)
