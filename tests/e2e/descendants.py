"""A process's descendants, read from /proc, and waiting for them to come and go."""

from __future__ import annotations

from pathlib import Path


def _stat(pid: int) -> tuple[str, int] | None:
    """State letter and parent id of ``pid``, or None once it is gone."""
    try:
        text = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return None
    state, ppid = text[text.rindex(")") + 2 :].split()[:2]
    return state, int(ppid)


def descendants(root: int) -> set[int]:
    """Every living process below ``root`` (children, their children …)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(int(entry.name))) is not None:
            children.setdefault(found[1], []).append(int(entry.name))
    below: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in below and is_alive(child):
                below.add(child)
                todo.append(child)
    return below


def is_alive(pid: int) -> bool:
    """Running or sleeping; a zombie has ended and waits only for a parent to reap it."""
    found = _stat(pid)
    return found is not None and found[0] not in ("Z", "X")
