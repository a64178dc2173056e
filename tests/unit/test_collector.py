"""A long-running process's collector: what exists at start is left out of its passes, and
cycles made afterwards are still freed (in a fresh interpreter: the policy is process-wide)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_what_exists_at_start_is_frozen_and_later_cycles_are_still_freed() -> None:
    out = _run(
        """
        import gc, weakref
        from tidings.entrypoints.collector import FULL_PASS_AFTER, settle_for_a_long_run

        class Node:
            pass

        settle_for_a_long_run()
        frozen = gc.get_freeze_count()
        node = Node()
        node.me = node  # a cycle: reference counting alone never frees it
        gone = weakref.ref(node)
        del node
        for _ in range(3):  # young passes, as allocation would start them
            gc.collect(0)
            gc.collect(1)
        print(frozen > 1000, gone() is None, gc.get_threshold()[2] == FULL_PASS_AFTER)
        """
    )
    assert out == "True True True"
