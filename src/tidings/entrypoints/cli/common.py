"""What every command that works on data needs first."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from tidings.domain.errors import TidingsError
from tidings.domain.people import Caller, Privilege, User
from tidings.entrypoints.cli.output import error_line, plain_console

if TYPE_CHECKING:
    from tidings.bootstrap import Tidings

#: The command line acts with the authority of whoever runs it on the server.
OPERATOR = Caller(User("Operator", "operator@localhost"), frozenset(Privilege))

T = TypeVar("T")


def run(action: Callable[[], T]) -> T:
    """``action``'s result; a Tidings error is printed and ends the command (status 2)."""
    try:
        return action()
    except TidingsError as error:
        plain_console(stderr=True).print(error_line(error))
        raise typer.Exit(2) from error


def ready() -> Tidings:
    """A Tidings on an up-to-date database, or a clear error and exit status 2."""
    # Imported here so that commands which never reach the database start at once.
    from tidings.bootstrap import bootstrap

    tidings = bootstrap()
    try:
        tidings.require_current_schema()
    except TidingsError as error:
        tidings.close()
        plain_console(stderr=True).print(error_line(error))
        raise typer.Exit(2) from error
    return tidings
