"""Copying SQLite's write-ahead log back into the database beside the writer, not in its way.

In WAL mode a commit appends to the log, and now and then the log is copied back into the
database file, which is then synced: a checkpoint (https://www.sqlite.org/wal.html). SQLite
runs it inside whichever commit finds the log past its limit, and that commit waits while
tens of megabytes are copied and synced: with email arriving in bulk, about a tenth of what
ingest takes. So a thread of its own checkpoints a few times a second, whenever the log has
changed. Its checkpoints are PASSIVE: they never block a reader or the writer, and they
copy only what is committed. SQLite's own checkpoint stays, for when this one falls behind.

Commits are as durable as before: each is in the log when it returns, and the log is what a
crash is recovered from.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

#: How often the log is looked at: a few megabytes of email at a time.
_POLL_SECONDS = 0.1


class WalCheckpointer:
    """Checkpoints the database at ``path`` whenever its log has changed."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._log = path.with_name(path.name + "-wal")
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop checkpointing; what is left in the log is SQLite's to copy."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        seen = self._log_changed_at()
        try:
            while not self._stopped.wait(_POLL_SECONDS):
                changed = self._log_changed_at()
                if changed in (seen, 0):  # unchanged, or no log: nothing to copy
                    continue
                seen = changed
                # Connected only once there is a log: connecting first to a database not yet
                # created would create it before the engine chose its page size.
                connection = connection or sqlite3.connect(self._path, isolation_level=None)
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass  # SQLite's own checkpoints carry on without this thread
        finally:
            if connection is not None:
                connection.close()

    def _log_changed_at(self) -> int:
        try:
            return self._log.stat().st_mtime_ns
        except OSError:  # no log (yet, or any more)
            return 0
