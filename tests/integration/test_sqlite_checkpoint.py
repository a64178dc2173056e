"""SQLite's log is copied into the database by a thread of its own, not by a commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from tidings.adapters.storage.database import make_engine


def _within(seconds: float, condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        threading.Event().wait(0.01)
    return True


def _checkpointers() -> int:
    return sum(t.name == "sqlite-checkpoint" for t in threading.enumerate())


def test_committed_writes_reach_the_database_file_without_a_checkpoint_of_the_writer(
    sqlite_url: str,
) -> None:
    # 4 MB is far below the 64 MB at which a commit would checkpoint: the file grows only
    # because the background thread copied the log into it.
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    engine = make_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE blobs (content BLOB)"))
    before = path.stat().st_size
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO blobs VALUES (:b)"), {"b": b"\1" * 4_000_000})

    assert _within(10, lambda: path.stat().st_size >= before + 4_000_000)
    engine.dispose()


def test_disposing_of_the_engine_stops_its_checkpoint_thread(sqlite_url: str) -> None:
    # Every engine on a file has one; none outlives its engine.
    running = _checkpointers()
    engine = make_engine(sqlite_url)
    assert _checkpointers() == running + 1

    engine.dispose()

    assert _checkpointers() == running


def test_an_engine_in_memory_has_no_checkpoint_thread() -> None:
    # Nothing is logged to a file, so there is nothing to copy.
    running = _checkpointers()
    engine = make_engine("sqlite://")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar_one() == 1
    assert _checkpointers() == running
    engine.dispose()
