"""What an operator watches: whether this process is ready, and the figures behind /metrics.

Figures come from the database, so any web process reports the whole organization, whichever
process synced or sent; mailboxes are labelled by id, never by address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ReadinessCheck:
    """One condition a ready process meets, and what was found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Readiness:
    checks: tuple[ReadinessCheck, ...]

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks)


@dataclass(frozen=True)
class DecidedEmail:
    """A tracking decision as the metrics count it: its outcome and the rule that decided."""

    id: int
    outcome: str
    #: The first rule that failed, or ``None`` for tracked email.
    deciding_rule: str | None


def deciding_rule(reasons: Iterable[Iterable[str]]) -> str | None:
    """The first failing rule of stored ``[rule, verdict, text]`` reasons."""
    for rule, verdict, *_text in reasons:
        if verdict == "fail":
            return rule
    return None


@dataclass(frozen=True)
class MailboxSyncFigures:
    mailbox_id: int
    backlog: int
    #: Seconds since every folder of the mailbox was last caught up (None: never yet).
    lag_seconds: float | None


@dataclass(frozen=True)
class MetricsSnapshot:
    """Gauges read in one go; counters are kept by ``DecisionCounter`` between reads."""

    folders_by_mode: dict[tuple[str, ...], int] = field(default_factory=dict)
    mailboxes: tuple[MailboxSyncFigures, ...] = ()
    outbox_by_phase: dict[tuple[str, ...], int] = field(default_factory=dict)
    #: Seconds the oldest queued email has waited to be sent (None: nothing queued).
    oldest_queued_seconds: float | None = None
    parked_by_stage: dict[tuple[str, ...], int] = field(default_factory=dict)
    webhook_deliveries_by_status: dict[tuple[str, ...], int] = field(default_factory=dict)
    live_workers: int = 0
    activities_by_status: dict[tuple[str, ...], int] = field(default_factory=dict)


class DecisionCounter:
    """Decisions counted by outcome and deciding rule, read incrementally by id.

    Each read adds only decisions newer than the last one seen, so a scrape costs an indexed
    range read however large the table grows; the counts start from the whole table when the
    process starts, as a Prometheus counter may.
    """

    def __init__(self) -> None:
        self.last_id = 0
        self.counts: dict[tuple[str, str], int] = {}

    def add(self, decisions: Iterable[DecidedEmail]) -> None:
        for decision in decisions:
            key = (decision.outcome, decision.deciding_rule or "none")
            self.counts[key] = self.counts.get(key, 0) + 1
            self.last_id = max(self.last_id, decision.id)
