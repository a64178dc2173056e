"""What the command line prints: text exactly as given, styled only where the CLI says so.

Names, subjects, addresses, Message-IDs and server replies come from outside. Read as rich
markup, ``[owner/repo] Fix`` would lose its bracketed part, ``[/]`` would end the command
with a markup error after its work was done, ``[link=…]`` would put a link in the
operator's terminal, and ``:thumbs_up:`` would become an emoji. So no console here reads
markup or emoji codes; colour is given as a style beside the text it applies to.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def plain_console(*, stderr: bool = False) -> Console:
    """A console that prints strings as they are."""
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False)


def styled(*parts: str | tuple[str, str]) -> Text:
    """One line from plain parts and ``(text, style)`` parts, e.g.
    ``styled(("error:", "red"), f" {error}")``."""
    return Text.assemble(*parts)


def error_line(message: object, label: str = "error:") -> Text:
    """``error: <message>``, the label in red."""
    return styled((label, "red"), f" {message}")
