"""The sync engine run in a thread for tests, and the service it runs with short back-offs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from tests.builders import Org, TickingClock
from tests.conftest import settings_for
from tests.waiting import POLL_SECONDS
from tidings.adapters.imap.client import ImapFolderSession
from tidings.adapters.pop3 import Pop3Mailbox
from tidings.bootstrap import Tidings, bootstrap, mail_apis
from tidings.services.ports import Clock
from tidings.services.sync import SyncService
from tidings.services.sync.model import Alerted, Backoff, FolderOpener, Ingested, SyncEvent
from tidings.services.tracking.results import IngestResult

USERS = {"dana@northwind.example": "dana-pass", "sam@northwind.example": "sam-pass"}


class SyncRun:
    """The sync engine running in a thread, and what it has ingested so far."""

    def __init__(self, tidings: Tidings) -> None:
        self.tidings = tidings
        self.results: list[IngestResult] = []
        self.alerts: list[Alerted] = []
        self._changed = threading.Condition()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def listen(self, event: SyncEvent) -> None:
        with self._changed:
            if isinstance(event, Ingested):
                self.results.extend(event.results)
            else:
                self.alerts.append(event)
            self._changed.notify_all()

    def start(self, service: SyncService) -> None:
        self.service = service
        self._thread.start()

    def _main(self) -> None:
        async def run() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await self.service.run(self._stop)

        asyncio.run(run())

    def wait_for(self, condition: Callable[[], bool], timeout: float = 20) -> None:
        """Block until ``condition`` holds, woken by each ingest and looking again every
        ``POLL_SECONDS`` (a folder's mode, a cursor, a connection change without an event);
        fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                assert left > 0, "sync never got there"
                self._changed.wait(min(left, POLL_SECONDS))

    def tracked(self) -> set[str]:
        return {r.summary for r in self.results}

    def stop(self) -> None:
        if self._thread.is_alive() and self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout=30)


def service_for(run: SyncRun, **overrides: object) -> SyncService:
    t = run.tidings
    settings: dict[str, Any] = {
        "listener": run.listen,
        "refresh_seconds": 0.2,
        "backoff": Backoff(first_seconds=0.1, cap_seconds=0.5),
        "pop3_opener": Pop3Mailbox.open,
        "delta_openers": {kind: api.open_folder for kind, api in mail_apis().items()},
    }
    folder_opener = overrides.pop("opener", None) or opener()
    return SyncService(t.uow, t.ingest, t.secrets, folder_opener, t.clock, **(settings | overrides))


def opener() -> FolderOpener:
    return ImapFolderSession.open


@contextmanager
def org_syncing(
    database_url: str, users: Sequence[str] = ("dana", "sam"), clock: Clock | None = None
) -> Iterator[tuple[Org, SyncRun]]:
    """A fresh organization (dana, and the other ``users`` added) whose sync events a
    ``SyncRun`` collects; the run is stopped and Tidings closed at the end."""
    holder: dict[str, SyncRun] = {}
    tidings = bootstrap(
        settings_for(database_url),
        clock or TickingClock(),
        listener=lambda e: holder["run"].listen(e),
    )
    holder["run"] = run = SyncRun(tidings)
    org = Org.create(tidings)
    for user in users:
        if user not in org.users:
            org.add_user(user)
    try:
        yield org, run
    finally:
        run.stop()
        tidings.close()
