"""A PostgreSQL connection that waits for notifications without waking meanwhile.

While it waits on its socket, psycopg wakes every tenth of a second to look for an
interrupt; under asyncio an interrupt arrives as the waiting task's cancellation, which
ends the wait at once anyway. A worker keeps two connections listening for hours (the
relayed change notifications and the task queue's new jobs): twenty wake-ups a second of
nothing. These connections wake when their socket has something, or after ``WAKE_SECONDS``.
"""

from __future__ import annotations

from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen
from typing_extensions import override

RV = TypeVar("RV")

#: The longest a waiting connection sleeps without its socket having anything.
WAKE_SECONDS = 10.0


class ListeningConnection(psycopg.AsyncConnection[Any]):
    """``psycopg.AsyncConnection``, waiting up to ``WAKE_SECONDS`` between looks."""

    @override
    async def wait(
        self, gen: PQGen[RV], interval: float = WAKE_SECONDS, timeout: float | None = None
    ) -> RV:
        return await super().wait(gen, interval=max(interval, WAKE_SECONDS), timeout=timeout)
