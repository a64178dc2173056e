"""Inline CSS that can neither run nor fetch anything, for the HTML sanitizer.

nh3 keeps the allowed properties of a ``style`` attribute but not what their values do:
``width: expression(…)`` (old Internet Explorer runs it), ``background-color: url(…)``,
``behavior:`` and ``-moz-binding:`` survive its filter. So each declaration is read here
first, comments such as ``exp/**/ression`` taken out, and kept only if its property is
allowed and its value is plain: no ``url(`` at all, no function but colour and ``calc``
arithmetic, no escape (``\\65xpression`` is ``expression``), no at-rule, no markup. What
is kept therefore holds none of these words in any spelling, however a CSS parser splits it.
"""

from __future__ import annotations

import re

_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)
_FUNCTION = re.compile(r"([a-z-]*)\s*\(")
_SAFE_FUNCTIONS = frozenset({"rgb", "rgba", "hsl", "hsla", "calc"})
_NEVER = (
    "url", "expression", "behavior", "binding", "import", "javascript", "vbscript",
    "script", "image", "element", "attr", "src", "@", "\\", "<", ">", "{", "}", "`",
)  # fmt: skip
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def safe_style(style: str, allowed: frozenset[str] | set[str]) -> str | None:
    """The declarations of ``style`` that are safe to keep, or ``None`` if none is."""
    if _CONTROL.search(style):
        return None
    text = _COMMENT.sub(" ", style)
    kept = []
    for declaration in text.split(";"):
        name, colon, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        if colon and name in allowed and value and _plain(value.lower()):
            kept.append(f"{name}:{value}")
    return ";".join(kept) or None


def _plain(value: str) -> bool:
    squeezed = "".join(value.split())
    if any(word in squeezed for word in _NEVER):
        return False
    return all(name in _SAFE_FUNCTIONS for name in _FUNCTION.findall(value))
