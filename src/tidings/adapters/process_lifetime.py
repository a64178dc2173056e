"""Tying a child process's life to the Tidings process that started it.

A parse process blocks on its task queue, whose write end it holds itself, and it holds the
forkserver's "alive" pipe too: left alone, it would wait forever after the main process is
killed (``kill -9`` runs no clean-up), and so would the forkserver and multiprocessing's
resource tracker, which exit only once every holder of their pipes is gone. So each child,
as it starts:

* asks the kernel to kill it when its parent dies (``PR_SET_PDEATHSIG``). The parent of a
  forkserver child is the forkserver's one thread, which lives as long as the forkserver;
  the signal fires when the *thread* that forked a child ends, which is why children are
  never forked straight from the main process, whose web server threads come and go;
* watches the main process itself through a pidfd, which becomes readable when that
  process ends, and exits then. With the children gone, the forkserver reads EOF on its
  pipe and exits, and the resource tracker after it.

Both are Linux facilities; elsewhere the child starts as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import sys
import threading
from pathlib import Path

#: ``prctl`` option from <linux/prctl.h>.
_PR_SET_PDEATHSIG = 1


def die_with_parent(signum: int = signal.SIGKILL) -> bool:
    """Have the kernel send ``signum`` to this process when its parent thread ends."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return bool(libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) == 0)


def parent_of(pid: int) -> int | None:
    """The parent process id of ``pid``, read from /proc, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold spaces and parentheses: skip past the last.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1])


def is_ancestor(pid: int, of: int) -> bool:
    """Whether ``pid`` is a parent, grandparent … of process ``of``."""
    current: int | None = of
    seen = 0
    while current is not None and current > 1 and seen < 64:
        current = parent_of(current)
        if current == pid:
            return True
        seen += 1
    return False


def exit_when_gone(pid: int) -> None:
    """Exit this process at once when process ``pid``, an ancestor of it, ends.

    Exits now if ``pid`` is already gone or is no ancestor any more (it died, and its id
    may have gone to another process, before this was called).
    """
    if not hasattr(os, "pidfd_open"):
        return
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(1)
    # Checked after opening: while it is still our ancestor, the pidfd names that process.
    if not is_ancestor(pid, os.getpid()):
        os._exit(1)
    threading.Thread(target=_wait_then_exit, args=(pidfd,), daemon=True).start()


def _wait_then_exit(pidfd: int) -> None:
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.poll()  # blocks, without the GIL, until the process ends
    os._exit(1)


def tie_to(main_pid: int) -> None:
    """Everything a child of ``main_pid`` does first so that it never outlives it."""
    die_with_parent()
    exit_when_gone(main_pid)
