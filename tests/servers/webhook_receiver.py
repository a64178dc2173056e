"""A real HTTP receiver on 127.0.0.1 for webhook tests: it keeps every request and answers
with the status codes it is told to, in order (the last one repeats)."""

from __future__ import annotations

import queue
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """``answers`` are status codes; ``None`` means: hold the request until the test ends."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: queue.Queue[Received] = queue.Queue()
        self.answers: list[int | None] = [200]
        self._released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.put(Received(self.path, dict(self.headers.items()), body))
                answer = receiver._next_answer()
                if answer is None:
                    receiver._released.wait(30)
                    return
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        if tls is not None:  # HTTPS, presenting the context's certificate
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "http" if tls is None else "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _next_answer(self) -> int | None:
        with self._lock:
            return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]

    def wait_for(self, timeout: float = 30) -> Received:
        """The next request received; fails the test if none comes in ``timeout`` seconds."""
        return self.requests.get(timeout=timeout)

    def release(self) -> None:
        """Let held requests go: their connections close without an answer."""
        self._released.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(name="webhook_receiver")
def webhook_receiver_fixture() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()
