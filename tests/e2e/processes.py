"""The real ``tidings`` command run as a server process, ready when it says so."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

TIDINGS = str(Path(sys.executable).with_name("tidings"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float = 60) -> None:
    """Read the server's log until ``needle`` appears: readiness, not a guessed delay."""
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
            return
    raise AssertionError(f"server never said {needle!r}; it said:\n{''.join(seen)}")


def start_server(args: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``tidings ARGS --port P`` started; returns the process and its URL once it listens.

    The port is free when chosen but cannot be held for the server: should a test beside
    this one (another pytest-xdist worker) take it first, try another.
    """
    for attempt in range(3):
        port = free_port()
        process = subprocess.Popen(
            [TIDINGS, *args, "--port", str(port)],
            env=env,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        try:
            wait_for_line(process, "Uvicorn running on", timeout=120)
        except AssertionError as error:
            process.kill()
            process.wait()
            if "address already in use" in str(error) and attempt < 2:
                continue
            raise
        except BaseException:
            process.kill()
            raise
        return process, f"http://127.0.0.1:{port}"
    raise AssertionError("unreachable")


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

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
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
