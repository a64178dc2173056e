"""What every command that works on data needs first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console

from tidings.domain.errors import TidingsError

if TYPE_CHECKING:
    from tidings.bootstrap import Tidings


def ready() -> Tidings:
    """A Tidings on an up-to-date database, or a clear error and exit status 2."""
    # Imported here so that commands which never reach the database start at once.
    from tidings.bootstrap import bootstrap

    tidings = bootstrap()
    try:
        tidings.require_current_schema()
    except TidingsError as error:
        tidings.close()
        Console(stderr=True).print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from error
    return tidings
