"""What the grid benchmarks share: a Tidings on a freshly migrated database, and the mean
time of a call repeated."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from cryptography.fernet import Fernet

from tidings.adapters.storage.migrate import upgrade
from tidings.bootstrap import Tidings, bootstrap
from tidings.config import Settings

T = TypeVar("T")


def timed(repeat: int, run: Callable[[], T]) -> tuple[float, T]:
    """The mean time of ``run`` and its last result."""
    started = time.perf_counter()
    result = run()
    for _ in range(repeat - 1):
        result = run()
    return (time.perf_counter() - started) / repeat, result


@contextmanager
def fresh_tidings(database_url: str | None) -> Iterator[Tidings]:
    """A Tidings (parsing in-process, a throwaway key) on ``database_url`` migrated, or on
    SQLite in a temporary folder; closed on leaving."""
    with tempfile.TemporaryDirectory() as folder:
        url = database_url or f"sqlite:///{Path(folder) / 'tidings.db'}"
        upgrade(url)
        settings = Settings(
            database_url=url, secret_keys=Fernet.generate_key().decode(), parse_workers=0
        )
        tidings = bootstrap(settings)
        try:
            yield tidings
        finally:
            tidings.close()
