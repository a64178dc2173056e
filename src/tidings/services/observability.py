"""Readiness and metrics: whether this process can serve, and how the organization's sync,
tracking and sending stand, for /readyz and /metrics."""

from __future__ import annotations

import threading

from tidings.domain.errors import TidingsError
from tidings.domain.observability import (
    DecisionCounter,
    MetricsSnapshot,
    Readiness,
    ReadinessCheck,
)
from tidings.services.ports import Clock, MetricsReader


class ObservabilityService:
    """What /readyz and /metrics report; needs no caller: the routes decide who may ask."""

    def __init__(self, reader: MetricsReader, clock: Clock) -> None:
        self._reader = reader
        self._clock = clock
        self._decisions = DecisionCounter()
        # Two scrapes at once must not count the same decisions twice.
        self._lock = threading.Lock()

    def readiness(self) -> Readiness:
        """The database answers, its schema is current, and a sync worker is alive."""
        try:
            self._reader.ping()
        except TidingsError as error:
            return Readiness((ReadinessCheck("database", False, _first_line(error)),))
        checks = [ReadinessCheck("database", True, "reachable")]
        current, head = self._reader.schema_revision()
        checks.append(
            ReadinessCheck("migrations", True, f"at {head}")
            if current == head
            else ReadinessCheck(
                "migrations", False, f"at {current}, code needs {head}: run `tidings db upgrade`"
            )
        )
        workers = self._reader.live_workers(self._clock.now())
        checks.append(
            ReadinessCheck("workers", workers > 0, f"{workers} sync worker(s) reported lately")
        )
        return Readiness(tuple(checks))

    def decision_counts(self) -> dict[tuple[str, str], int]:
        """Decisions so far by (outcome, deciding rule), counted on from where the last read
        stopped (a bounded read each time: a large table is caught up over a few scrapes)."""
        with self._lock:
            self._decisions.add(self._reader.decisions_after(self._decisions.last_id))
            return dict(self._decisions.counts)

    def snapshot(self) -> MetricsSnapshot:
        return self._reader.snapshot(self._clock.now())


def _first_line(error: Exception) -> str:
    """The error's own words, never a statement or its parameters."""
    return str(error).splitlines()[0][:300] if str(error) else type(error).__name__
