"""What travels along the path: one email on its way, and what became of it."""

from __future__ import annotations

from dataclasses import dataclass

from tidings.domain.message import HeaderSummary
from tidings.domain.stored import StoredRaw
from tidings.domain.tracking import Outcome


@dataclass(frozen=True)
class IngestResult:
    """What became of one offered email."""

    raw_message_id: int
    outcome: Outcome
    summary: str
    activity_id: int | None = None
    #: True when this origin had been offered before and nothing new was done.
    repeated: bool = False


@dataclass(frozen=True)
class Pending:
    """An email whose raw bytes are kept, on its way to a decision."""

    #: Its place in the batch offered, where its result goes.
    index: int
    stored: StoredRaw
    #: None when the header block could not be read; deciding reads it again and parks.
    headers: HeaderSummary | None
