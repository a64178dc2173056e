"""Nothing a Tidings process starts outlives it: parse processes, the forkserver and
multiprocessing's resource tracker go when the worker or server goes, even by ``kill -9``."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import TEST_SECRET_KEY
from tests.e2e.descendants import descendants, is_alive
from tests.e2e.processes import ANY_PORT, TIDINGS, wait_for_line
from tests.waiting import wait_until

PARSE_WORKERS = 2
#: The worker processes, the forkserver that forks them and the resource tracker.
HELPERS = PARSE_WORKERS + 2

COMMANDS = {
    "worker": (["worker"], "Syncing mailboxes of"),
    "serve --worker": (["serve", "--worker"], "Uvicorn running on"),
}


@pytest.fixture(params=list(COMMANDS))
def started(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[subprocess.Popen[str]]:
    """The command running, once every parse process it starts is up."""
    args, ready_line = COMMANDS[request.param]
    if args[0] == "serve":
        args = [*args, *ANY_PORT]
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": str(PARSE_WORKERS),
        # Kept from the start: otherwise they start only with the first email to parse.
        "TIDINGS_PARSE_IDLE_SECONDS": "0",
    }
    # Both streams in one: the worker greets on stdout, the server logs on stderr.
    process = subprocess.Popen(
        [TIDINGS, *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process.stderr = process.stdout  # where wait_for_line reads
    try:
        wait_for_line(process, ready_line, timeout=120)
        wait_until(
            lambda: len(descendants(process.pid)) >= HELPERS,
            timeout=120,
            what="the parse processes starting",
        )
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def test_killing_the_process_outright_takes_every_parse_process_with_it(
    started: subprocess.Popen[str],
) -> None:
    # kill -9 runs no clean-up in the process: its children notice on their own.
    helpers = descendants(started.pid)
    assert len(helpers) >= HELPERS
    started.send_signal(signal.SIGKILL)
    started.wait(timeout=30)
    wait_until(
        lambda: not any(is_alive(pid) for pid in helpers),
        timeout=60,
        what=f"processes {sorted(helpers)} exiting after their parent was killed",
    )


def test_a_graceful_stop_leaves_no_process_behind(started: subprocess.Popen[str]) -> None:
    # SIGTERM is how service managers stop Tidings: it shuts its pool down and exits.
    helpers = descendants(started.pid)
    started.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal once it has shut down, so its status may say SIGTERM.
    assert started.wait(timeout=60) in (0, -signal.SIGTERM)
    wait_until(
        lambda: not any(is_alive(pid) for pid in helpers),
        timeout=60,
        what=f"processes {sorted(helpers)} exiting after a graceful stop",
    )
