"""Tracking decisions and the facts they are made from.

A decision is the verdict of every rule in ``rules.py`` with the reason each gave; it is
stored with the raw email so that "why was (or wasn't) this tracked?" has a plain answer.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tidings.domain.activity import CorrelationMethod, EmailActivity
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.mailbox import Mailbox
from tidings.domain.message import HeaderSummary
from tidings.domain.people import PersonalOptions, Privilege
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.settings import EmailConfiguration


class Verdict(enum.StrEnum):
    """What one rule concluded."""

    PASS = "pass"  # noqa: S105 - a verdict, not a password
    FAIL = "fail"
    NOT_APPLICABLE = "not_applicable"


class Outcome(enum.StrEnum):
    """What became of one email."""

    TRACKED = "tracked"
    NOT_TRACKED = "not_tracked"
    PARKED = "parked"


@dataclass(frozen=True)
class Reason:
    """One rule's verdict, in words an admin understands."""

    rule: str
    verdict: Verdict
    text: str


@dataclass(frozen=True)
class TrackingDecision:
    """Tracked if no rule failed; every reason kept in the order the rules ran."""

    reasons: tuple[Reason, ...]

    @property
    def tracked(self) -> bool:
        return all(r.verdict is not Verdict.FAIL for r in self.reasons)

    @property
    def failures(self) -> tuple[Reason, ...]:
        return tuple(r for r in self.reasons if r.verdict is Verdict.FAIL)

    def summary(self) -> str:
        """One line: tracked, or the first reason it was not."""
        failures = self.failures
        return "tracked" if not failures else f"not tracked: {failures[0].text}"


@dataclass(frozen=True)
class Correlation:
    """The tracked email this one answers, and how it was found."""

    method: CorrelationMethod
    activity_id: int | None = None
    regarding: RecordRef | None = None
    #: The conversation of the activity found, which the answering email joins.
    conversation_id: str | None = None
    #: The activity found, when recorded in the same batch and not saved yet (no id).
    unsaved: EmailActivity | None = field(default=None, repr=False, compare=False)


NO_CORRELATION = Correlation(CorrelationMethod.NONE)


@dataclass(frozen=True)
class Owner:
    """The user or queue whose mailbox received the email, with what the rules ask of it."""

    ref: RecordRef
    name: str
    privileges: frozenset[Privilege]
    options: PersonalOptions
    is_active: bool = True


@dataclass(frozen=True)
class TrackingFacts:
    """Everything the rules look at, gathered before deciding."""

    config: EmailConfiguration
    mailbox: Mailbox
    owner: Owner
    folder: str
    folder_rule: FolderTrackingRule | None
    headers: HeaderSummary
    sender_kinds: frozenset[RecordKind]
    recipient_kinds: frozenset[RecordKind]
    correlation: Correlation
    tracked_for: frozenset[RecordRef]
    #: The records each address of the email belongs to.
    matches: Mapping[str, Sequence[RecordRef]]
    #: The owner set the tracked category on the email in the mail client.
    marked: bool = False

    @property
    def is_outgoing(self) -> bool:
        sender = self.headers.sender
        return sender is not None and sender.address == self.mailbox.address
