"""Ports for the servers the tests start, and for servers that are not there.

A port found free and then released can be taken by any process beside this one (another
pytest-xdist worker starts a server too) before the server meant for it binds it. So a port
is held from the moment it is found: a socket bound here is handed to a server in this
process (``bound_socket``); ``tidings serve`` binds port 0 itself and says which port it got;
a port where nothing may listen stays bound, without listening, for as long as it is used
(``closed_port``). Only a server that can be given neither a socket nor port 0 (Dovecot) is
told ports found free (``free_ports``), and its start is tried again on fresh ones when one
was taken first.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

HOST = "127.0.0.1"


def bound_socket(host: str = HOST) -> socket.socket:
    """A TCP socket bound to a port the system picked free on ``host``: the port is this
    socket's until it is closed, whoever else looks for a free one meanwhile. A server in this
    process listens on it (asyncio and uvicorn take it as it is)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind((host, 0))
    except BaseException:
        listener.close()
        raise
    return listener


@contextmanager
def closed_port(host: str = HOST) -> Iterator[int]:
    """A port on ``host`` that refuses every connection for the length of the block.

    Bound but not listening: a connection is refused (RST) as by a port nothing uses, and
    no process can start listening on it while the block lasts.
    """
    with bound_socket(host) as held:
        yield held.getsockname()[1]


def free_ports(count: int, host: str = HOST) -> list[int]:
    """``count`` distinct ports free on ``host`` right now (held together, so all differ),
    then released: only for a server that can be told nothing else; its start must be tried
    again on fresh ports when another process took one first."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind((host, 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
