"""``tidings admin business-units``, ``queue-members`` and ``role-levels``: the circles access
levels reach, managed through the same services as the console and the API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tidings.domain.access_levels import AccessLevel
from tidings.domain.errors import NotFoundError
from tidings.domain.people import Privilege
from tidings.entrypoints.cli.common import OPERATOR, ready, run
from tidings.entrypoints.cli.output import error_line, plain_console

if TYPE_CHECKING:
    from tidings.bootstrap import Tidings

console = plain_console()
units_app = typer.Typer(
    help="List, create, rename and delete business units.", no_args_is_help=True
)


def register(admin_app: typer.Typer) -> None:
    admin_app.add_typer(units_app, name="business-units")
    admin_app.command("move-user")(move_user)
    admin_app.command("queue-members")(queue_members)
    admin_app.command("role-levels")(role_levels)


@units_app.command("list")
def list_units() -> None:
    """Every business unit with its parent; the root is the organization."""
    tidings = ready()
    units = run(lambda: tidings.business_units.list_units(OPERATOR))
    names = {u.id: u.name for u in units}
    table = Table("Id", "Business unit", "Parent")
    for unit in units:
        table.add_row(
            str(unit.id), unit.name, names.get(unit.parent_id, "") if unit.parent_id else ""
        )
    console.print(table)


@units_app.command("create")
def create_unit(
    name: Annotated[str, typer.Argument(help="The new unit's name.")],
    parent: Annotated[
        str | None, typer.Option(help="The parent unit's name (default: root).")
    ] = None,
) -> None:
    """Create a business unit under PARENT (the root unit when not given)."""
    tidings = ready()

    def create() -> int | None:
        parent_id = _unit_id(tidings, parent) if parent else None
        return tidings.business_units.create_unit(OPERATOR, name=name, parent_id=parent_id).id

    unit_id = run(create)
    console.print(f"Business unit {name} created (id {unit_id}).")


@units_app.command("rename")
def rename_unit(
    name: Annotated[str, typer.Argument(help="The unit's name now.")],
    new_name: Annotated[str, typer.Argument(help="Its new name.")],
) -> None:
    """Rename a business unit."""
    tidings = ready()
    run(
        lambda: tidings.business_units.update_unit(OPERATOR, _unit_id(tidings, name), name=new_name)
    )
    console.print(f"Business unit {name} is now {new_name}.")


@units_app.command("delete")
def delete_unit(name: Annotated[str, typer.Argument(help="An empty unit's name.")]) -> None:
    """Delete a business unit nobody and no unit is in."""
    tidings = ready()
    run(lambda: tidings.business_units.delete_unit(OPERATOR, _unit_id(tidings, name)))
    console.print(f"Business unit {name} deleted.")


def move_user(
    email: Annotated[str, typer.Argument(help="The user's email address.")],
    unit: Annotated[str, typer.Argument(help="The business unit's name.")],
) -> None:
    """Put a user in a business unit."""
    tidings = ready()

    def move() -> None:
        user = tidings.access.caller_for(email).user
        assert user.id is not None  # noqa: S101 - stored users have ids
        tidings.business_units.move_user(OPERATOR, user.id, _unit_id(tidings, unit))

    run(move)
    console.print(f"{email} is now in {unit}.")


def queue_members(
    queue: Annotated[str, typer.Argument(help="The queue's email address.")],
    members: Annotated[
        list[str] | None, typer.Argument(help="Every member's email address; none to list.")
    ] = None,
) -> None:
    """List a queue's members, or make exactly MEMBERS its members."""
    tidings = ready()

    def act() -> list[str]:
        found = [q for q in tidings.people.list_queues(OPERATOR) if q.email == queue.lower()]
        if not found:
            raise NotFoundError(f"no queue with the address {queue}")
        queue_id = found[0].id
        if members is not None:
            ids = [_user_id(tidings, m) for m in members]
            tidings.business_units.set_queue_members(OPERATOR, queue_id, ids)
        ids_now = tidings.business_units.queue_members(OPERATOR, queue_id)
        return sorted(u.email for u in tidings.people.list_users(OPERATOR) if u.id in ids_now)

    for email in run(act):
        console.print(email)


def role_levels(
    role: Annotated[str, typer.Argument(help="The security role's name.")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="PRIVILEGE=LEVEL (none, user, business_unit, organization …); repeat."
        ),
    ] = None,
) -> None:
    """Show a role's privileges with their access levels, or change some with --set."""
    tidings = ready()

    def act() -> dict[Privilege, AccessLevel]:
        found = [r for r in tidings.people.list_roles(OPERATOR) if r.name.lower() == role.lower()]
        if not found or found[0].id is None:
            raise NotFoundError(f"no security role named {role!r}")
        current = found[0]
        levels = {p: current.level_of(p) for p in current.privileges}
        for item in set_ or []:
            privilege, _, level = item.partition("=")
            levels[Privilege(privilege.strip())] = AccessLevel(level.strip())
        if set_:
            current = tidings.people.set_role_levels(OPERATOR, found[0].id, levels)
        return {p: current.level_of(p) for p in Privilege}

    try:
        shown = run(act)
    except ValueError as error:
        console.print(error_line(error))
        raise typer.Exit(2) from error
    table = Table("Privilege", "Access level")
    for privilege, level in shown.items():
        table.add_row(privilege.value, level.label)
    console.print(table)


def _unit_id(tidings: Tidings, name: str) -> int:
    for unit in tidings.business_units.list_units(OPERATOR):
        if unit.name.lower() == name.strip().lower() and unit.id is not None:
            return unit.id
    raise NotFoundError(f"no business unit named {name!r}")


def _user_id(tidings: Tidings, email: str) -> int:
    user = tidings.access.caller_for(email).user
    assert user.id is not None  # noqa: S101 - stored users have ids
    return user.id
