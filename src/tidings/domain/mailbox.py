"""Mailboxes and their life cycle: approval, Test & Enable, alerts.

::

                 approve_email()             record_test(success)
    (pending) ───────────────────▶ approved ─────────────────────▶ enabled
        ▲                             │  ▲                            │
        │ change_address()            │  └──── record_test(failure) ◀─┘
        └─────────────────────────────┘         (disabled, alert kept)

A mailbox syncs only when its address is approved, its incoming method is server-side
synchronization and it is enabled; ``change_address`` resets approval as D365 does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from tidings.domain.records import RecordRef, normalize_address
from tidings.domain.settings import SyncMethod


class ApprovalStatus(enum.StrEnum):
    """D365's *email address approval status*."""

    PENDING = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"


class TestStatus(enum.StrEnum):
    """Result of the incoming or outgoing half of Test & Enable."""

    __test__ = False  # a domain enum, not a pytest test class

    NOT_RUN = "not_run"
    SUCCESS = "success"
    FAILURE = "failure"


class AlertLevel(enum.StrEnum):
    """How urgent an alert is."""

    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


@dataclass(frozen=True)
class Alert:
    """A message on a mailbox for its admin, with the time it was raised."""

    level: AlertLevel
    text: str
    raised_at: datetime
    #: The folder whose sync raised it, if one did: it goes when the folder is untracked.
    folder: str | None = None


@dataclass
class Mailbox:
    """One user's or queue's mailbox."""

    address: str
    owner: RecordRef
    profile_id: int | None = None
    incoming_method: SyncMethod = SyncMethod.SERVER_SIDE_SYNC
    outgoing_method: SyncMethod = SyncMethod.SERVER_SIDE_SYNC
    approval: ApprovalStatus = ApprovalStatus.PENDING
    incoming_status: TestStatus = TestStatus.NOT_RUN
    outgoing_status: TestStatus = TestStatus.NOT_RUN
    enabled: bool = False
    alerts: list[Alert] = field(default_factory=list)
    id: int | None = None

    def __post_init__(self) -> None:
        self.address = normalize_address(self.address)

    def approve_email(self) -> None:
        """Record that an admin confirmed the address belongs to the owner."""
        self.approval = ApprovalStatus.APPROVED

    def change_address(self, address: str) -> None:
        """A new address must be approved again; until then nothing syncs."""
        new = normalize_address(address)
        if new != self.address:
            self.address = new
            self.approval = ApprovalStatus.PENDING
            self.enabled = False

    def record_test(
        self, *, incoming: TestStatus, outgoing: TestStatus, alerts: list[Alert]
    ) -> None:
        """Keep a Test & Enable result; enable only if every method in use passed."""
        self.incoming_status = incoming
        self.outgoing_status = outgoing
        self.alerts.extend(alerts)
        in_use = []
        if self.incoming_method is SyncMethod.SERVER_SIDE_SYNC:
            in_use.append(incoming)
        if self.outgoing_method is SyncMethod.SERVER_SIDE_SYNC:
            in_use.append(outgoing)
        self.enabled = bool(in_use) and all(s is TestStatus.SUCCESS for s in in_use)

    def disable(self) -> None:
        """Stop synchronizing until Test & Enable passes again."""
        self.enabled = False

    @property
    def is_approved(self) -> bool:
        return self.approval is ApprovalStatus.APPROVED

    @property
    def syncs_incoming(self) -> bool:
        return self.enabled and self.incoming_method is SyncMethod.SERVER_SIDE_SYNC
