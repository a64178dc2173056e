"""Waiting for state outside the test's process to hold: a mail server's flags, a process
table, another process's writes. No event announces these, so the condition is polled."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

#: How often a condition is looked at again.
POLL_SECONDS = 0.05


def wait_until(
    condition: Callable[[], bool], timeout: float = 20, what: str | Callable[[], str] = "it"
) -> None:
    """Return once ``condition`` holds; fail saying ``what`` did not happen in time.

    ``what`` may be a function, called only on failure: a process's log read when the wait
    begins says nothing of why it ended."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            said = what() if callable(what) else what
            raise AssertionError(f"{said} did not happen within {timeout:g} s")
        time.sleep(POLL_SECONDS)


#: What ``answered_at_once`` returns for an awaitable that had to wait.
WAITED = object()


def answered_at_once(awaitable: Awaitable[object]) -> object:
    """The result of an awaitable that finishes without waiting for anything (no thread,
    no I/O, no other task), else ``WAITED``. Run inside the event loop that it would use."""
    steps = awaitable.__await__()
    try:
        steps.send(None)
    except StopIteration as done:
        return done.value
    steps.close()
    return WAITED
