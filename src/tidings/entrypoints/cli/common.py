"""What every command that works on data needs first."""

from __future__ import annotations

import typer
from rich.console import Console

from tidings.bootstrap import Tidings, bootstrap
from tidings.domain.errors import TidingsError


def ready() -> Tidings:
    """A Tidings on an up-to-date database, or a clear error and exit status 2."""
    tidings = bootstrap()
    try:
        tidings.require_current_schema()
    except TidingsError as error:
        tidings.close()
        Console(stderr=True).print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from error
    return tidings
