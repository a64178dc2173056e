"""Discrete work tried again later: the signal a step gives when a try failed but another
may work, and the exponential back-off that spaces the tries."""

from __future__ import annotations

from dataclasses import dataclass


class RetryLater(Exception):
    """This try failed and was recorded; try again in ``seconds`` (None: the queue's
    back-off decides)."""

    def __init__(self, reason: str, seconds: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


@dataclass(frozen=True)
class Backoff:
    """The wait after the ``attempts``-th failed try: ``first`` doubled each time, capped."""

    first: float = 30.0
    cap: float = 3600.0

    def delay(self, attempts: int) -> float:
        wait: float = self.first * 2 ** max(attempts - 1, 0)
        return min(self.cap, wait)
