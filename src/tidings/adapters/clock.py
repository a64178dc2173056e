"""The system clock, in UTC."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

#: The current time, timezone-aware: what adapters that keep time take (a clock's ``now``).
Now = Callable[[], datetime]


class SystemClock:
    """Tells the real time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def system_now() -> datetime:
    """The real time, for adapters given no clock."""
    return datetime.now(UTC)
