"""The ``tidings`` command.

The console script starts here rather than in ``main``: processes that multiprocessing
starts (the parse workers) re-import the script that started their parent, and this package
imports nothing, so they load only what parsing needs.
"""

from __future__ import annotations


def run() -> None:
    """Console-script entry point."""
    from tidings.entrypoints.cli.main import run as run_cli

    run_cli()
