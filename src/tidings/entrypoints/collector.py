"""The garbage collector of a long-running Tidings process (``tidings worker``, ``serve``).

Reference counting frees almost every object the moment it is no longer used; CPython's
cyclic collector is there for the rest, and its full pass walks every object that outlived
the young generations, with every thread stopped while it runs. A worker following a
thousand mailboxes holds a few hundred thousand such objects (its modules, each folder's
session and tasks), and at a hundred pushed emails a second the objects of the batches in
flight outlive the young generations fast enough to start a full pass every five to seven
seconds. Each stopped the event loop for 0.25 to 0.5 s, and every email arriving meanwhile
waited for it: those pauses were the slowest percent of delivery → activity in
``bench/scale.py --parts load``.

So once a process has started:

* what exists by then (the modules, the composition root) is moved where the collector no
  longer looks (``gc.freeze``): it lives as long as the process, and walking it again and
  again never finds anything to free;
* a full pass waits for ten times as many passes over the middle generation as CPython's
  default asks. The young generations are collected as before, so short-lived cycles still
  go at once; only cycles that outlived them wait longer, and those are few.
"""

from __future__ import annotations

import gc

#: Passes over the middle generation before a full one (CPython's default: 10).
FULL_PASS_AFTER = 100


def settle_for_a_long_run() -> None:
    """Call once the process is set up and about to serve: what exists now stays out of
    every later pass, and full passes come a tenth as often."""
    gc.collect()
    gc.freeze()
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, FULL_PASS_AFTER)
