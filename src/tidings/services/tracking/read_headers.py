"""Stage 2, read the headers: the header block of every email, read in the parse worker
processes a batch or two ahead (its Message-ID is kept with the raw bytes), is all that
deciding needs; only email that will be tracked is parsed whole, later.

Bytes that are not an email at all (empty, or without a header block) park here with that
reason instead of becoming an activity with no sender (``domain.unreadable``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32

from tidings.domain.message import (
    HeaderSummary,
    MessageOrigin,
    parse_headers,
    split_header_block,
)
from tidings.domain.track_when_sent import TRACK_HEADER, is_token
from tidings.domain.unreadable import EXPLANATIONS as UNREADABLE_EXPLANATIONS
from tidings.domain.unreadable import unreadable_reason
from tidings.services.ports import Clock, MessageParser, UnitOfWork
from tidings.services.tracking.park import park_reason
from tidings.services.tracking.results import IngestResult, Pending

_NEEDLE = TRACK_HEADER.lower().encode()


def start_headers(
    parser: MessageParser, batch: Sequence[tuple[bytes, MessageOrigin]]
) -> Callable[[], list[HeaderSummary | None]]:
    """Start reading the header blocks of a batch; calling the result waits for them."""
    return parser.start_headers_many([raw for raw, _ in batch])


def headers_of(item: Pending) -> HeaderSummary:
    """The header summary of a kept email; read here when the workers could not (raises
    what reading raises, which parks the email)."""
    return item.headers or parse_headers(item.stored.raw)


def park_unreadable(
    uow: UnitOfWork, clock: Clock, pending: list[Pending]
) -> dict[int, IngestResult]:
    """Park what is not an email at all (empty, no header block) with the reason."""
    results: dict[int, IngestResult] = {}
    for item in pending:
        reason = unreadable_reason(item.stored.raw)
        if reason is not None:
            explanation = UNREADABLE_EXPLANATIONS[reason]
            results[item.index] = park_reason(
                uow, clock, item.stored.id, reason, explanation, f"parked: {reason}"
            )
    return results


def track_token(raw: bytes) -> str | None:
    """The X-Tidings-Track token of an email ("track when sent"), read cheaply; ``None``
    for most email."""
    block = split_header_block(raw)
    if _NEEDLE not in block.lower():
        return None
    value = BytesHeaderParser(policy=compat32).parsebytes(block).get(TRACK_HEADER)
    token = str(value).strip() if value is not None else ""
    return token if is_token(token) else None
