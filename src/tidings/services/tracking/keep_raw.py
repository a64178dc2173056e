"""Stage 1, keep the raw bytes: every email offered is kept before anything is decided,
keyed by where it came from (mailbox, folder, UIDVALIDITY, UID or the vendor's id) and by
identity (Message-ID, else a content hash).

An origin offered again is not kept again: it returns its first result (``resolve_seen``).
Bytes kept before under another origin of the same folder (a changed UIDVALIDITY, a copy)
get only the new origin.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from tidings.domain.errors import NotFoundError, StorageError
from tidings.domain.message import HeaderSummary, MessageOrigin, content_hash
from tidings.domain.stored import NewRaw, StoredRaw
from tidings.domain.tracking import Outcome
from tidings.services.ports import UnitOfWork
from tidings.services.tracking.results import IngestResult, Pending


@dataclass
class Kept:
    """A batch whose new raw bytes are kept: what needs deciding, and what was seen before."""

    pending: list[Pending] = field(default_factory=list)
    #: Index of a repeated origin -> index of its first offer in the batch.
    repeats: dict[int, int] = field(default_factory=dict)
    results: dict[int, IngestResult] = field(default_factory=dict)
    #: Origins kept by an earlier offer, by index: their raw id and header summary.
    seen: dict[int, tuple[int, HeaderSummary | None]] = field(default_factory=dict)


def keep_new(
    uow: UnitOfWork,
    batch: Sequence[tuple[bytes, MessageOrigin]],
    headers_of: Sequence[HeaderSummary | None],
    now: datetime,
) -> Kept:
    """Insert the raw bytes of every origin not kept before, in the caller's transaction."""
    kept = Kept()
    first_offer: dict[MessageOrigin, int] = {}
    new: list[tuple[int, NewRaw, HeaderSummary | None]] = []
    mailbox_ids = sorted({origin.mailbox_id for _, origin in batch})
    found = uow.mailboxes.get_many(mailbox_ids, with_alerts=False)
    for mailbox_id in mailbox_ids:
        if mailbox_id not in found:
            raise NotFoundError(f"no mailbox with id {mailbox_id}")
    known = uow.raw_messages.ids_by_origins([origin for _, origin in batch])
    offered: list[tuple[int, NewRaw, HeaderSummary | None]] = []
    for index, (raw, origin) in enumerate(batch):
        if origin in first_offer:
            kept.repeats[index] = first_offer[origin]
            continue
        first_offer[origin] = index
        headers = headers_of[index]
        raw_id = known.get(origin)
        if raw_id is not None:
            kept.seen[index] = (raw_id, headers)
            continue
        message_id = headers.message_id if headers else None
        item = NewRaw(origin, raw, message_id, content_hash(raw), now)
        offered.append((index, item, headers))
    # Bytes kept before under another origin of the same folder (its UIDVALIDITY
    # changed and it is read again, or a copy): only the new origin is recorded.
    further: list[tuple[MessageOrigin, int]] = []
    copies: list[tuple[MessageOrigin, int]] = []  # of bytes first offered in this batch
    first_content: dict[tuple[int, str, str, str | None], int] = {}
    same = uow.raw_messages.same_content([item for _, item, _ in offered])
    for (index, item, headers), raw_id in zip(offered, same, strict=True):
        content = (item.origin.mailbox_id, item.origin.folder, item.content_hash)
        key = (*content, item.message_id)
        if raw_id is not None:
            further.append((item.origin, raw_id))
            kept.seen[index] = (raw_id, headers)
        elif key in first_content:
            kept.repeats[index] = first_content[key]
            copies.append((item.origin, first_content[key]))
        else:
            first_content[key] = index
            new.append((index, item, headers))
    ids = _add_raw(uow, [item for _, item, _ in new])
    raw_of = {index: raw_id for raw_id, (index, _, _) in zip(ids, new, strict=True)}
    further += [(origin, raw_of[first]) for origin, first in copies]
    uow.raw_messages.add_origins(further, now)
    for raw_id, (index, item, headers) in zip(ids, new, strict=True):
        stored = StoredRaw(
            raw_id,
            item.origin,
            item.message_id,
            item.content_hash,
            len(item.raw),
            item.stored_at,
            item.raw,
        )
        kept.pending.append(Pending(index, stored, headers))
    return kept


def resolve_seen(uow: UnitOfWork, kept: Kept) -> None:
    """What became of origins offered before; those never decided (a crash in between)
    are decided now."""
    for index, (raw_id, headers) in kept.seen.items():
        previous = previous_result(uow, raw_id)
        if previous is not None:
            kept.results[index] = previous
        else:
            kept.pending.append(Pending(index, uow.raw_messages.require(raw_id), headers))
    kept.seen = {}
    kept.pending.sort(key=lambda p: p.index)


def previous_result(uow: UnitOfWork, raw_id: int) -> IngestResult | None:
    """What became of kept bytes when they were first offered, if they were decided."""
    decision = uow.decisions.get(raw_id)
    if decision is not None:
        return IngestResult(
            raw_id, decision.outcome, decision.summary, decision.activity_id, repeated=True
        )
    parked = uow.parked.get_by_raw(raw_id)
    if parked is not None:
        return IngestResult(raw_id, Outcome.PARKED, f"parked: {parked.error_type}", None, True)
    return None


def _add_raw(uow: UnitOfWork, items: list[NewRaw]) -> list[int]:
    """Keep raw bytes, together if they can be; else each alone, and bytes the database
    refuses with their Message-ID (too big for its index) without it: the bytes are
    what must be kept, and deciding then parks the email with the error if it fails
    again."""
    try:
        with uow.savepoint():
            return uow.raw_messages.add_many(items)
    except StorageError:
        raise
    except Exception:
        if len(items) == 1 and items[0].message_id is not None:
            return _add_raw(uow, [replace(items[0], message_id=None)])
        if len(items) == 1:
            raise
    middle = len(items) // 2
    return _add_raw(uow, items[:middle]) + _add_raw(uow, items[middle:])
