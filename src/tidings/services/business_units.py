"""Business units and queue members: the circles access levels reach (D365's Settings ›
Security › Business Units, and a queue's Members)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tidings.domain.access_levels import BusinessUnit, would_make_cycle
from tidings.domain.errors import ConflictError, NotFoundError, ValidationError
from tidings.domain.people import Caller, Privilege, Queue
from tidings.services.changes import check_text
from tidings.services.people import require_queue
from tidings.services.ports import UnitOfWork

#: The root unit's name when nothing names the organization yet.
DEFAULT_ROOT_NAME = "Organization"


def ensure_root_unit(uow: UnitOfWork, name: str = DEFAULT_ROOT_NAME) -> int:
    """The organization's root business unit, created on first need."""
    root = uow.directory.root_business_unit()
    if root is None:
        root = uow.directory.add_business_unit(BusinessUnit(name))
    return root


class BusinessUnitService:
    """Managing the tree of business units, who is in which, and queue members."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow = uow_factory

    def list_units(self, caller: Caller) -> list[BusinessUnit]:
        caller.require(Privilege.READ_USERS)
        with self._uow() as uow:
            return uow.directory.business_units()

    def create_unit(self, caller: Caller, *, name: str, parent_id: int | None) -> BusinessUnit:
        """A unit under ``parent_id`` (the root unit when none is given)."""
        caller.require(Privilege.WRITE_USERS)
        name = _check_name(name)
        with self._uow() as uow:
            units = uow.directory.business_units()
            _check_name_free(units, name, None)
            if parent_id is None:
                parent = ensure_root_unit(uow)
            else:
                parent = _require_unit(units, parent_id).id or parent_id
            unit = BusinessUnit(name, parent)
            unit_id = uow.directory.add_business_unit(unit)
            uow.commit()
        return BusinessUnit(name, parent, unit_id)

    def update_unit(
        self, caller: Caller, unit_id: int, *, name: str | None = None, parent_id: int | None = None
    ) -> BusinessUnit:
        """Rename a unit or move it under another; the root stays the root."""
        caller.require(Privilege.WRITE_USERS)
        with self._uow() as uow:
            units = uow.directory.business_units()
            unit = _require_unit(units, unit_id)
            new_name = unit.name if name is None else _check_name(name)
            _check_name_free(units, new_name, unit_id)
            parent = unit.parent_id
            if parent_id is not None and parent_id != unit.parent_id:
                if unit.is_root:
                    raise ValidationError("the root business unit has no parent")
                _require_unit(units, parent_id)
                if would_make_cycle(units, unit_id, parent_id):
                    raise ValidationError("a business unit cannot be moved under itself")
                parent = parent_id
            changed = BusinessUnit(new_name, parent, unit_id)
            uow.directory.save_business_unit(changed)
            uow.commit()
        return changed

    def delete_unit(self, caller: Caller, unit_id: int) -> None:
        """Delete an empty unit: no users, queues or units below it, and never the root."""
        caller.require(Privilege.WRITE_USERS)
        with self._uow() as uow:
            unit = _require_unit(uow.directory.business_units(), unit_id)
            if unit.is_root:
                raise ConflictError("the root business unit is the organization itself")
            if uow.directory.members_in_unit(unit_id):
                raise ConflictError(
                    f"business unit {unit.name!r} still has users, queues or units in it"
                )
            uow.directory.delete_business_unit(unit_id)
            uow.commit()

    def move_user(self, caller: Caller, user_id: int, unit_id: int) -> None:
        caller.require(Privilege.WRITE_USERS)
        with self._uow() as uow:
            _require_unit(uow.directory.business_units(), unit_id)
            user = uow.directory.get_user(user_id)
            if user is None:
                raise NotFoundError(f"no user with id {user_id}")
            user.business_unit_id = unit_id
            uow.directory.save_user(user)
            uow.commit()

    def set_queue_unit(self, caller: Caller, queue_id: int, unit_id: int) -> Queue:
        caller.require(Privilege.WRITE_USERS)
        with self._uow() as uow:
            _require_unit(uow.directory.business_units(), unit_id)
            queue = require_queue(uow, queue_id)
            queue.business_unit_id = unit_id
            uow.directory.save_queue(queue)
            uow.commit()
        return queue

    def queue_members(self, caller: Caller, queue_id: int) -> frozenset[int]:
        caller.require(Privilege.READ_USERS)
        with self._uow() as uow:
            return require_queue(uow, queue_id).member_ids

    def set_queue_members(
        self, caller: Caller, queue_id: int, user_ids: Iterable[int]
    ) -> frozenset[int]:
        """Exactly these users are the queue's members."""
        caller.require(Privilege.WRITE_USERS)
        wanted = frozenset(user_ids)
        with self._uow() as uow:
            queue = require_queue(uow, queue_id)
            for user_id in sorted(wanted):
                if uow.directory.get_user(user_id) is None:
                    raise NotFoundError(f"no user with id {user_id}")
            queue.member_ids = wanted
            uow.directory.save_queue(queue)
            uow.commit()
        return wanted


def _require_unit(units: list[BusinessUnit], unit_id: int) -> BusinessUnit:
    found = next((u for u in units if u.id == unit_id), None)
    if found is None:
        raise NotFoundError(f"no business unit with id {unit_id}")
    return found


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("a business unit needs a name")
    return check_text("name", name.strip(), 200)


def _check_name_free(units: list[BusinessUnit], name: str, unit_id: int | None) -> None:
    for other in units:
        if other.name.lower() == name.lower() and other.id != unit_id:
            raise ConflictError(f"a business unit named {other.name!r} exists")
