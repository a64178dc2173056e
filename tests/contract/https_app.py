"""An ASGI app served over HTTPS on a free loopback port, in a thread, for as long as a test
needs it: the contract fakes, and Tidings' own API where a vendor must reach it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.servers.dovecot import Certificates
from tests.servers.ports import bound_socket

START_TIMEOUT = 15.0


@contextmanager
def https_app(app: Any, certificates: Certificates) -> Iterator[str]:
    """Serve ``app``; yields its base URL (``https://127.0.0.1:<port>``)."""
    listener = bound_socket()
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            ssl_certfile=str(certificates.cert_file),
            ssl_keyfile=str(certificates.key_file),
            lifespan="off",
        )
    )
    thread = threading.Thread(target=lambda: server.run(sockets=[listener]), daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    # A readiness condition polled, not a fixed sleep: uvicorn offers no callback.
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        # Clients keep connections open: do not wait for them to leave.
        server.should_exit = server.force_exit = True
        thread.join(timeout=START_TIMEOUT)
        listener.close()
