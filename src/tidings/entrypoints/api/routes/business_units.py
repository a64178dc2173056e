"""Business units, who belongs to which, queue members, and each role's access levels."""

from typing import Annotated

from fastapi import APIRouter, status

from tidings.domain.people import LEVELLED, Caller, Privilege
from tidings.entrypoints.api.admin_schemas import PROBLEMS, PathId
from tidings.entrypoints.api.deps import TidingsDep, require
from tidings.entrypoints.api.people_schemas import (
    BusinessUnitCreate,
    BusinessUnitPublic,
    BusinessUnitUpdate,
    PrivilegeLevel,
    QueueMembers,
    QueuePublic,
    RoleLevels,
    RolePublic,
    UnitAssignment,
    UserPublic,
)

router = APIRouter(prefix="/api", tags=["users, queues and security roles"], responses=PROBLEMS)

Reader = Annotated[Caller, require(Privilege.READ_USERS)]
Writer = Annotated[Caller, require(Privilege.WRITE_USERS)]


@router.get("/business-units", summary="List business units")
def list_units(tidings: TidingsDep, caller: Reader) -> list[BusinessUnitPublic]:
    """The tree as a list: each unit names its parent; the root (the organization) none."""
    return [BusinessUnitPublic.of(u) for u in tidings.business_units.list_units(caller)]


@router.post(
    "/business-units", status_code=status.HTTP_201_CREATED, summary="Create a business unit"
)
def create_unit(
    body: BusinessUnitCreate, tidings: TidingsDep, caller: Writer
) -> BusinessUnitPublic:
    unit = tidings.business_units.create_unit(caller, name=body.name, parent_id=body.parent_id)
    return BusinessUnitPublic.of(unit)


@router.patch("/business-units/{unit_id}", summary="Rename or move a business unit")
def update_unit(
    unit_id: PathId, body: BusinessUnitUpdate, tidings: TidingsDep, caller: Writer
) -> BusinessUnitPublic:
    unit = tidings.business_units.update_unit(
        caller, unit_id, name=body.name, parent_id=body.parent_id
    )
    return BusinessUnitPublic.of(unit)


@router.delete(
    "/business-units/{unit_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete an empty business unit",
)
def delete_unit(unit_id: PathId, tidings: TidingsDep, caller: Writer) -> None:
    tidings.business_units.delete_unit(caller, unit_id)


@router.put("/users/{user_id}/business-unit", summary="Move a user to a business unit")
def move_user(
    user_id: PathId, body: UnitAssignment, tidings: TidingsDep, caller: Writer
) -> UserPublic:
    tidings.business_units.move_user(caller, user_id, body.business_unit_id)
    return UserPublic.of(tidings.people.get_user(caller, user_id))


@router.put("/queues/{queue_id}/business-unit", summary="Move a queue to a business unit")
def move_queue(
    queue_id: PathId, body: UnitAssignment, tidings: TidingsDep, caller: Writer
) -> QueuePublic:
    tidings.business_units.set_queue_unit(caller, queue_id, body.business_unit_id)
    return QueuePublic.of(tidings.people.get_queue(caller, queue_id))


@router.get("/queues/{queue_id}/members", summary="A queue's members")
def get_members(queue_id: PathId, tidings: TidingsDep, caller: Reader) -> QueueMembers:
    return QueueMembers(user_ids=sorted(tidings.business_units.queue_members(caller, queue_id)))


@router.put("/queues/{queue_id}/members", summary="Set a queue's members")
def set_members(
    queue_id: PathId, body: QueueMembers, tidings: TidingsDep, caller: Writer
) -> QueueMembers:
    """Exactly these users work the queue's email; at User level they see what it owns."""
    members = tidings.business_units.set_queue_members(caller, queue_id, body.user_ids)
    return QueueMembers(user_ids=sorted(members))


@router.get("/roles/{role_id}/privileges", summary="A role's privileges with access levels")
def get_role_privileges(
    role_id: PathId, tidings: TidingsDep, caller: Reader
) -> list[PrivilegeLevel]:
    """Every privilege, as the rows of D365's role editor: ``none`` for those not held."""
    role = tidings.people.get_role(caller, role_id)
    return [
        PrivilegeLevel(privilege=p, level=role.level_of(p), levelled=p in LEVELLED)
        for p in Privilege
    ]


@router.put("/roles/{role_id}/privileges", summary="Set a role's privileges with access levels")
def set_role_privileges(
    role_id: PathId, body: RoleLevels, tidings: TidingsDep, caller: Writer
) -> RolePublic:
    """The role holds exactly the privileges given, each at its level."""
    return RolePublic.of(tidings.people.set_role_levels(caller, role_id, body.levels))
