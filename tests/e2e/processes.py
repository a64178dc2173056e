"""The real ``tidings`` command run as a server process, ready when it says so."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from tests.servers.ports import bound_socket

TIDINGS = str(Path(sys.executable).with_name("tidings"))


#: ``tidings serve`` takes a port the system picks as it binds, and its log names it: no port
#: found free beforehand, which another process could take before the server binds it.
ANY_PORT = ["--port", "0"]
_LISTENING = re.compile(r"Uvicorn running on (http://\S+)")


def wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float = 60) -> str:
    """Read the server's log until ``needle`` appears: readiness, not a guessed delay;
    returns the line."""
    assert process.stderr is not None
    lines: queue.Queue[str] = queue.Queue()
    stream = process.stderr
    threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
    deadline = time.monotonic() + timeout
    seen = []
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"server never said {needle!r}; it said:\n{''.join(seen)}")


def listening_url(line: str) -> str:
    """The URL in uvicorn's "Uvicorn running on http://HOST:PORT" line."""
    found = _LISTENING.search(line)
    assert found, f"no URL in {line!r}"
    return found.group(1)


def start_server(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``tidings ARGS`` started on a port of its own (``ANY_PORT``); returns the process and
    its URL once it listens."""
    process = subprocess.Popen(
        [TIDINGS, *args, *ANY_PORT],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = wait_for_line(process, "Uvicorn running on", timeout=120)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return process, listening_url(line)


@contextmanager
def serving(args: list[str], env: dict[str, str]) -> Iterator[str]:
    """A server for the length of a ``with`` block, stopped as an operator would stop it."""
    process, url = start_server(args, env)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def serving_app(app: Any) -> Iterator[str]:
    """An ASGI app served by uvicorn in a thread of this process, on a port bound here and
    handed over (so no test beside this one can take it); yields its URL once it listens."""
    import uvicorn

    listener = bound_socket()
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    listening = threading.Event()
    startup = server.startup

    async def started(sockets: object = None) -> None:
        await startup(sockets=sockets)  # type: ignore[arg-type]
        listening.set()

    server.startup = started  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        assert listening.wait(timeout=30), "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def new_tidings(
    folder: Path, admin: tuple[str, str], args: list[str] | None = None
) -> Iterator[str]:
    """A new Tidings on SQLite in ``folder`` with only its first administrator (``admin``:
    address and password, named Alex Admin), serving with ``args`` (``serve`` by default)."""
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": f"sqlite:///{folder / 'tidings.db'}",
        "TIDINGS_SECRET_KEYS": Fernet.generate_key().decode(),
        "TIDINGS_PARSE_WORKERS": "0",
    }
    run: dict[str, Any] = {"env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([TIDINGS, "db", "upgrade"], timeout=120, **run)
    subprocess.run(
        [TIDINGS, "createadmin", admin[0], "--name", "Alex Admin", "--password-stdin"],
        input=admin[1] + "\n",
        timeout=120,
        **run,
    )
    with serving(args or ["serve"], env) as url:
        yield url
