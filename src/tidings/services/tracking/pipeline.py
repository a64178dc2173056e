"""Ingest: keep the raw bytes, decide, and record the email activity — idempotently.

The path of a batch of email (DESIGN.md steps 2–7):

1. the raw bytes of the batch are committed first, keyed by where they came from; offering
   an origin again returns its first result and changes nothing;
2. each email's header block is read and every tracking rule decides, with its reason;
3. only email that will be tracked is parsed whole: parties resolved, regarding correlated,
   attachments admitted, and recorded with the decision;
4. a batch is recorded as a whole, a few statements for all its email, inside a savepoint;
   if any email of it fails, that is undone and the batch is split in halves, each decided
   in its own savepoint, halving again whatever fails until the failing email is alone: it
   parks with its error, and every other email is decided. No email stalls its folder.
   ``replay`` runs steps 2–3 again.

Bytes that are not an email at all (empty, or without a header block) are kept, and parked
with that reason instead of becoming an activity with no sender (``domain.unreadable``).

Steps 2–4 of a batch share one transaction, so a batch costs two commits, not two per email.
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from tidings.domain.activity import EmailActivity
from tidings.domain.correlation import choose_regarding
from tidings.domain.error_text import brief
from tidings.domain.errors import ConflictError, NotFoundError, StorageError
from tidings.domain.mailbox import Mailbox
from tidings.domain.message import (
    HeaderSummary,
    MessageOrigin,
    ParsedEmail,
    content_hash,
    parse_headers,
    try_parse_headers,
)
from tidings.domain.rules import decide
from tidings.domain.settings import EmailConfiguration
from tidings.domain.stored import NewRaw, StoredDecision, StoredRaw
from tidings.domain.tracking import Outcome, TrackingFacts
from tidings.domain.unreadable import EXPLANATIONS as UNREADABLE_EXPLANATIONS
from tidings.domain.unreadable import unreadable_reason
from tidings.services import track_when_sent, tracking_address
from tidings.services.lookups import BatchLookups
from tidings.services.ports import Clock, MessageParser, UnitOfWork
from tidings.services.recording import (
    MailboxContext,
    add_content,
    build_activity,
    fill_content,
    gather_facts,
    identity_of,
    load_context,
    record_activity,
    save_activities,
)

#: How often an email is decided again after losing a race to record the same email.
_CONFLICT_RETRIES = 1
#: Tracked emails handed to the parser together while the rest of a batch is decided.
_PARSE_GROUP = 8
#: ... or fewer, after this many emails decided: where few are tracked, they are parsed
#: meanwhile too, rather than all at the end of the batch while it waits.
_PARSE_EVERY = 25


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
class _Pending:
    index: int
    stored: StoredRaw
    #: None when the header block could not be read; deciding reads it again and parks.
    headers: HeaderSummary | None


@dataclass
class _Kept:
    """A batch whose new raw bytes are kept: what needs deciding, and what was seen before."""

    pending: list[_Pending] = field(default_factory=list)
    #: Index of a repeated origin -> index of its first offer in the batch.
    repeats: dict[int, int] = field(default_factory=dict)
    results: dict[int, IngestResult] = field(default_factory=dict)
    #: Origins kept by an earlier offer, by index: their raw id and header summary.
    seen: dict[int, tuple[int, HeaderSummary | None]] = field(default_factory=dict)


@dataclass
class _Batch:
    """What deciding one batch shares: its transaction, its lookups, its mailboxes."""

    uow: UnitOfWork
    lookups: BatchLookups
    contexts: dict[int, MailboxContext] = field(default_factory=dict)
    #: Decisions that recorded nothing, inserted together at the end of the batch.
    not_tracked: list[StoredDecision] = field(default_factory=list)

    def context(self, mailbox_id: int) -> MailboxContext:
        if mailbox_id not in self.contexts:
            self.contexts[mailbox_id] = load_context(self.uow, mailbox_id)
        return self.contexts[mailbox_id]


class _Decider(Protocol):
    """Decides and records a list of pending email in the caller's savepoint."""

    def __call__(
        self,
        uow: UnitOfWork,
        pending: list[_Pending],
        parsing: dict[int, Callable[[], ParsedEmail]],
    ) -> dict[int, IngestResult]: ...


def _chunks(
    emails: Iterable[tuple[bytes, MessageOrigin]], size: int
) -> Iterator[list[tuple[bytes, MessageOrigin]]]:
    iterator = iter(emails)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


class IngestService:
    """Turns raw email from a mailbox into tracking decisions and email activities."""

    def __init__(
        self, uow_factory: Callable[[], UnitOfWork], clock: Clock, parser: MessageParser
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._parser = parser

    def ingest(self, raw: bytes, origin: MessageOrigin) -> IngestResult:
        """Store ``raw`` (unless this origin was seen) and process it."""
        return self.ingest_batch([(raw, origin)])[0]

    def ingest_many(
        self, emails: Iterable[tuple[bytes, MessageOrigin]], batch_size: int = 100
    ) -> Iterator[IngestResult]:
        """Ingest a stream of email in batches, each result as its batch completes.

        Header blocks are parsed a batch or two ahead, and the next batch's raw bytes are
        kept while the current one's last emails are parsed: they are then
        committed with the current batch's decisions, which changes nothing of what is kept
        first (the raw bytes of a batch are committed before it is decided).
        """
        chunks = _chunks(emails, batch_size)
        batch = next(chunks, None)
        if batch is None:
            return
        headers = self._start_headers(batch)
        # Header blocks are parsed two batches ahead: the next batch's are needed while the
        # current one is decided, to keep its raw bytes alongside.
        following = next(chunks, None)
        following_headers = self._start_headers(following or [])
        kept = self._store(batch, headers())
        while True:
            after = next(chunks, None)
            after_headers = self._start_headers(after or [])
            ahead: list[_Kept] = []
            keep_following = functools.partial(
                self._keep_alongside, ahead, following or [], following_headers
            )
            yield from self._finish(batch, kept, keep_following)
            if following is None:
                return
            batch = following
            if ahead:
                kept = ahead[0]
                if kept.seen:
                    with self._uow() as uow:
                        self._resolve_seen(uow, kept)
            else:  # not kept alongside (nothing to decide, or it failed): as on its own
                kept = self._store(batch, following_headers())
            following, following_headers = after, after_headers

    def _start_headers(
        self, batch: Sequence[tuple[bytes, MessageOrigin]]
    ) -> Callable[[], list[HeaderSummary | None]]:
        return self._parser.start_headers_many([raw for raw, _ in batch])

    def ingest_batch(
        self,
        batch: Sequence[tuple[bytes, MessageOrigin]],
        headers: Sequence[HeaderSummary | None] | None = None,
    ) -> list[IngestResult]:
        """Store and process many emails; results come back in the order given."""
        if headers is None:
            headers = self._start_headers(batch)()
        return self._finish(batch, self._store(batch, headers))

    def _finish(
        self,
        batch: Sequence[tuple[bytes, MessageOrigin]],
        kept: _Kept,
        meanwhile: Callable[[UnitOfWork], None] | None = None,
    ) -> list[IngestResult]:
        """Decide a kept batch; ``meanwhile`` runs in its transaction while parsing ends."""
        results = kept.results
        if kept.pending:
            with self._uow() as uow:
                results.update(self._decide_all(uow, kept.pending, meanwhile))
                uow.commit()
        for index, first in kept.repeats.items():
            results[index] = replace(results[first], repeated=True)
        return [results[index] for index in range(len(batch))]

    def _keep_alongside(
        self,
        ahead: list[_Kept],
        batch: Sequence[tuple[bytes, MessageOrigin]],
        headers: Callable[[], list[HeaderSummary | None]],
        uow: UnitOfWork,
    ) -> None:
        """Keep the next batch's new raw bytes in the current batch's transaction, in
        ``ahead``; if that fails, nothing, and the batch is then stored on its own, failing
        as it fails there."""
        ahead.clear()  # an attempt undone by its savepoint keeps again
        if not batch:
            return
        try:
            with uow.savepoint():
                ahead.append(self._keep_new(uow, batch, headers()))
        except StorageError:
            raise
        except Exception:  # stored again on its own, where it fails as it does
            ahead.clear()

    def process(self, raw_message_id: int) -> IngestResult:
        """Decide and record one stored email again (replay); park it if anything fails."""
        with self._uow() as uow:
            stored = uow.raw_messages.require(raw_message_id)
            previous = uow.decisions.get(raw_message_id)
            if previous is not None and previous.outcome is Outcome.PARKED:
                uow.decisions.delete(raw_message_id)  # decided anew
            pending = [_Pending(0, stored, try_parse_headers(stored.raw))]
            result = self._decide_all(uow, pending)[0]
            if result.outcome is not Outcome.PARKED:
                uow.parked.remove_by_raw(raw_message_id)
            uow.commit()
        return result

    def _store(
        self,
        batch: Sequence[tuple[bytes, MessageOrigin]],
        headers_of: Sequence[HeaderSummary | None],
    ) -> _Kept:
        """Commit the raw bytes of every new origin; say which emails still need deciding."""
        with self._uow() as uow:
            kept = self._keep_new(uow, batch, headers_of)
            uow.commit()
            self._resolve_seen(uow, kept)
        return kept

    def _keep_new(
        self,
        uow: UnitOfWork,
        batch: Sequence[tuple[bytes, MessageOrigin]],
        headers_of: Sequence[HeaderSummary | None],
    ) -> _Kept:
        """Insert the raw bytes of every origin not kept before."""
        kept = _Kept()
        first_offer: dict[MessageOrigin, int] = {}
        new: list[tuple[int, NewRaw, HeaderSummary | None]] = []
        for mailbox_id in {origin.mailbox_id for _, origin in batch}:
            if uow.mailboxes.get(mailbox_id) is None:
                raise NotFoundError(f"no mailbox with id {mailbox_id}")
        known = uow.raw_messages.ids_by_origins([origin for _, origin in batch])
        now = self._clock.now()
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
        ids = self._add_raw(uow, [item for _, item, _ in new])
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
            kept.pending.append(_Pending(index, stored, headers))
        return kept

    def _add_raw(self, uow: UnitOfWork, items: list[NewRaw]) -> list[int]:
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
                return self._add_raw(uow, [replace(items[0], message_id=None)])
            if len(items) == 1:
                raise
        middle = len(items) // 2
        return self._add_raw(uow, items[:middle]) + self._add_raw(uow, items[middle:])

    def _resolve_seen(self, uow: UnitOfWork, kept: _Kept) -> None:
        """What became of origins offered before; those never decided (a crash in between)
        are decided now."""
        for index, (raw_id, headers) in kept.seen.items():
            previous = self._previous_result(uow, raw_id)
            if previous is not None:
                kept.results[index] = previous
            else:
                kept.pending.append(_Pending(index, uow.raw_messages.require(raw_id), headers))
        kept.seen = {}
        kept.pending.sort(key=lambda p: p.index)

    def _decide_all(
        self,
        uow: UnitOfWork,
        pending: list[_Pending],
        meanwhile: Callable[[UnitOfWork], None] | None = None,
    ) -> dict[int, IngestResult]:
        """Decide and record a batch: all together first, in halves if that fails.

        Together, the batch's activities, parties, attachments and decisions are a few
        statements for the whole batch. Should anything fail (an email the database refuses,
        another worker recording the same email), that attempt is undone and the batch is
        halved until the failing email is alone (``_bisect``), so that it parks alone.
        Parsing started for one attempt serves the next. What is not an email at all parks
        before any attempt.
        """
        parsing: dict[int, Callable[[], ParsedEmail]] = {}
        results = self._park_unreadable(uow, pending)
        # Email the rules do not decide (the tracking address, track when sent) comes next;
        # the rest is decided as ever.
        results.update(self._before_rules(uow, [i for i in pending if i.index not in results]))
        pending = [item for item in pending if item.index not in results]
        if not pending:
            if meanwhile is not None:
                meanwhile(uow)
            return results
        # Smart matching asks storage about the activities recorded before each email: with
        # it, email is recorded one by one.
        smart = uow.settings.get().use_smart_matching
        decide: _Decider = (
            self._decide_one_by_one
            if smart
            else functools.partial(self._decide_together, meanwhile=None)
        )
        try:
            with uow.savepoint():
                if smart:
                    if meanwhile is not None:
                        meanwhile(uow)
                    decided = self._decide_one_by_one(uow, pending, parsing)
                else:
                    decided = self._decide_together(uow, pending, parsing, meanwhile)
            results.update(decided)
            return results
        except StorageError:
            raise
        except Exception:  # noqa: S110 - decided again below, in halves
            pass
        if meanwhile is not None:  # undone with the attempt
            meanwhile(uow)
        results.update(self._bisect(uow, pending, parsing, decide))
        return results

    def _bisect(
        self,
        uow: UnitOfWork,
        pending: list[_Pending],
        parsing: dict[int, Callable[[], ParsedEmail]],
        decide: _Decider,
    ) -> dict[int, IngestResult]:
        """Decide a batch that failed as a whole, each half in its own savepoint, halving
        again whatever fails until the email that fails is alone: it parks with its error,
        and every other email of the batch is decided.

        Halves are decided in order, so that later email sees what earlier email recorded,
        as it does in one batch. An email alone is decided one by one, which parks what
        fails in it and retries a lost race to record the same email.
        """
        if len(pending) == 1:
            return self._decide_alone(uow, pending[0], parsing)
        results: dict[int, IngestResult] = {}
        middle = len(pending) // 2
        for half in (pending[:middle], pending[middle:]):
            try:
                with uow.savepoint():
                    results.update(decide(uow, half, parsing))
            except StorageError:
                raise
            except Exception:  # halved again until the failing email is alone
                results.update(self._bisect(uow, half, parsing, decide))
        return results

    def _decide_alone(
        self, uow: UnitOfWork, item: _Pending, parsing: dict[int, Callable[[], ParsedEmail]]
    ) -> dict[int, IngestResult]:
        try:
            with uow.savepoint():
                return self._decide_one_by_one(uow, [item], parsing)
        except StorageError:
            raise
        except Exception:  # what failed outside one email's own savepoint: its lookups
            return {item.index: self._park(uow, item.stored.id)}

    def _park_unreadable(self, uow: UnitOfWork, pending: list[_Pending]) -> dict[int, IngestResult]:
        """Park what is not an email at all (empty, no header block) with the reason."""
        results: dict[int, IngestResult] = {}
        for item in pending:
            reason = unreadable_reason(item.stored.raw)
            if reason is not None:
                explanation = UNREADABLE_EXPLANATIONS[reason]
                results[item.index] = self._park_reason(
                    uow, item.stored.id, reason, explanation, f"parked: {reason}"
                )
        return results

    def _before_rules(self, uow: UnitOfWork, pending: list[_Pending]) -> dict[int, IngestResult]:
        """Email the rules do not decide: what arrives at the tracking address, and a sent
        copy someone asked to track when sent. Each in its own savepoint; a failure parks it."""
        results: dict[int, IngestResult] = {}
        config = uow.settings.get()
        mailboxes: dict[int, Mailbox | None] = {}
        for item in pending:
            mailbox_id = item.stored.origin.mailbox_id
            token = track_when_sent.token_in(item.stored.raw)
            if config.tracking_address is None and token is None:
                continue
            if mailbox_id not in mailboxes:
                mailboxes[mailbox_id] = uow.mailboxes.get(mailbox_id)
            mailbox = mailboxes[mailbox_id]
            result = self._decide_before_rules_once(uow, config, mailbox, item, token)
            if result is not None:
                results[item.index] = result
        return results

    def _decide_before_rules_once(
        self,
        uow: UnitOfWork,
        config: EmailConfiguration,
        mailbox: Mailbox | None,
        item: _Pending,
        token: str | None,
    ) -> IngestResult | None:
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                with uow.savepoint():
                    return self._decide_before_rules(uow, config, mailbox, item.stored, token)
            except StorageError:
                raise
            except ConflictError:
                # Recorded meanwhile from another mailbox (the sent copy, say): deciding
                # again finds it tracked.
                if attempt == _CONFLICT_RETRIES:
                    return self._park(uow, item.stored.id)
            except Exception:  # parked alone, as any email whose deciding fails
                return self._park(uow, item.stored.id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decide_before_rules(
        self,
        uow: UnitOfWork,
        config: EmailConfiguration,
        mailbox: Mailbox | None,
        stored: StoredRaw,
        token: str | None,
    ) -> IngestResult | None:
        now = self._clock.now()
        if mailbox is not None and tracking_address.is_tracking_address(config, mailbox):
            recorded = tracking_address.track_from_address(uow, config, mailbox, stored, now)
            uow.decisions.add_many(recorded.decisions)
            first = recorded.decisions[0]
            return IngestResult(stored.id, first.outcome, first.summary, recorded.activity_id)
        if token is None:
            return None
        decision = track_when_sent.honour(uow, stored, token, now)
        if decision is None:
            return None
        uow.decisions.add(decision)
        return IngestResult(stored.id, decision.outcome, decision.summary, decision.activity_id)

    def _batch(self, uow: UnitOfWork, pending: list[_Pending]) -> _Batch:
        lookups = BatchLookups(
            uow,
            [item.headers for item in pending if item.headers is not None],
            [identity_of(item.stored) for item in pending],
            uow.settings.get().tracking_token,
        )
        return _Batch(uow, lookups)

    def _parse(
        self, parsing: dict[int, Callable[[], ParsedEmail]], stored: StoredRaw
    ) -> Callable[[], ParsedEmail]:
        if stored.id not in parsing:
            parsing[stored.id] = self._parser.start_email(stored.raw)
        return parsing[stored.id]

    def _start_parsing(
        self, parsing: dict[int, Callable[[], ParsedEmail]], stored: list[StoredRaw]
    ) -> None:
        # Parsing started by an attempt that failed serves the next one.
        stored = [item for item in stored if item.id not in parsing]
        started = self._parser.start_emails([item.raw for item in stored])
        parsing.update(zip([item.id for item in stored], started, strict=True))

    def _decide_together(
        self,
        uow: UnitOfWork,
        pending: list[_Pending],
        parsing: dict[int, Callable[[], ParsedEmail]],
        meanwhile: Callable[[UnitOfWork], None] | None,
    ) -> dict[int, IngestResult]:
        results: dict[int, IngestResult] = {}
        batch = self._batch(uow, pending)
        tracked: list[tuple[_Pending, StoredDecision, EmailActivity]] = []
        unparsed: list[StoredRaw] = []  # tracked, not handed to the parser yet
        since_handed = 0
        for item in pending:
            since_handed += 1
            facts, record = self._decide(batch, item)
            if record.decision.tracked:
                activity = build_activity(uow, batch.lookups, item.stored, facts, self._clock.now())
                batch.lookups.activity_recorded(activity, identity_of(item.stored))
                tracked.append((item, record, activity))
                unparsed.append(item.stored)
            else:
                batch.not_tracked.append(record)
                results[item.index] = IngestResult(item.stored.id, record.outcome, record.summary)
            # Workers start while the rest is decided, so that little is left to wait for.
            if len(unparsed) == _PARSE_GROUP or (unparsed and since_handed >= _PARSE_EVERY):
                self._start_parsing(parsing, unparsed)
                unparsed, since_handed = [], 0
        self._start_parsing(parsing, unparsed)
        # While the last emails are parsed:
        uow.decisions.add_many(batch.not_tracked)
        if meanwhile is not None:
            meanwhile(uow)
        for item, _, activity in tracked:
            config = batch.context(item.stored.origin.mailbox_id).config
            add_content(activity, parsing[item.stored.id](), config)
        save_activities(uow, [(activity, identity_of(i.stored)) for i, _, activity in tracked])
        decisions = []
        for item, record, activity in tracked:
            decisions.append(replace(record, outcome=Outcome.TRACKED, activity_id=activity.id))
            results[item.index] = IngestResult(
                item.stored.id, Outcome.TRACKED, record.summary, activity.id
            )
        uow.decisions.add_many(decisions)
        return results

    def _decide_one_by_one(
        self,
        uow: UnitOfWork,
        pending: list[_Pending],
        parsing: dict[int, Callable[[], ParsedEmail]],
    ) -> dict[int, IngestResult]:
        """Decide each email in order; parse tracked ones meanwhile, then fill their content."""
        results: dict[int, IngestResult] = {}
        batch = self._batch(uow, pending)
        tracked: list[tuple[_Pending, IngestResult]] = []
        for item in pending:
            result = self._process(batch, item)
            results[item.index] = result
            if result.outcome is Outcome.TRACKED:
                tracked.append((item, result))
                self._parse(parsing, item.stored)
        # Decisions that recorded nothing are independent rows: one statement for all.
        uow.decisions.add_many(batch.not_tracked)
        for item, result in tracked:
            config = batch.context(item.stored.origin.mailbox_id).config
            parsed = parsing[item.stored.id]
            results[item.index] = self._fill(uow, item.stored, result, parsed, config)
        return results

    def _fill(
        self,
        uow: UnitOfWork,
        stored: StoredRaw,
        result: IngestResult,
        parsed: Callable[[], ParsedEmail],
        config: EmailConfiguration,
    ) -> IngestResult:
        assert result.activity_id is not None  # noqa: S101 - tracked results have one
        try:
            with uow.savepoint():
                fill_content(uow, result.activity_id, parsed(), config)
        except StorageError:
            raise
        except Exception:  # parked whole, never half-recorded
            with uow.savepoint():
                decided = uow.decisions.get(stored.id)
                uow.decisions.delete(stored.id)
                uow.activities.delete(result.activity_id)
                if decided is not None:  # every rule's verdict stays for the explanation
                    uow.decisions.add(_parked_decision(decided))
            return self._park(uow, stored.id)
        return result

    def _process(self, batch: _Batch, item: _Pending) -> IngestResult:
        for attempt in range(_CONFLICT_RETRIES + 1):
            try:
                return self._decide_and_record(batch, item)
            except StorageError:
                raise  # the database itself failed: parking would fail too
            except ConflictError:
                # Another worker recorded the same email at the same moment; deciding again
                # sees its activity and says "already tracked".
                if attempt == _CONFLICT_RETRIES:
                    return self._park(batch.uow, item.stored.id)
                batch.lookups.owners_changed(identity_of(item.stored))
            except Exception:  # any failure parks the email: nothing is lost
                return self._park(batch.uow, item.stored.id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decide(self, batch: _Batch, item: _Pending) -> tuple[TrackingFacts, StoredDecision]:
        """Every rule's verdict on one email, as kept when it records nothing."""
        stored = item.stored
        facts = gather_facts(
            batch.lookups,
            batch.context(stored.origin.mailbox_id),
            stored,
            item.headers or parse_headers(stored.raw),
        )
        decision = decide(facts)
        record = StoredDecision(
            raw_message_id=stored.id,
            outcome=Outcome.NOT_TRACKED,
            summary=decision.summary(),
            decision=decision,
            correlation=choose_regarding(facts.correlation, facts.folder_rule),
            activity_id=None,
            decided_at=self._clock.now(),
        )
        return facts, record

    def _decide_and_record(self, batch: _Batch, item: _Pending) -> IngestResult:
        stored, uow = item.stored, batch.uow
        facts, record = self._decide(batch, item)
        decision = record.decision
        if not decision.tracked:
            batch.not_tracked.append(record)
            return IngestResult(stored.id, Outcome.NOT_TRACKED, record.summary)
        with uow.savepoint():
            activity_id = record_activity(uow, batch.lookups, stored, facts, self._clock.now())
            uow.decisions.add(replace(record, outcome=Outcome.TRACKED, activity_id=activity_id))
        return IngestResult(stored.id, Outcome.TRACKED, record.summary, activity_id)

    def _park(self, uow: UnitOfWork, raw_message_id: int) -> IngestResult:
        """Park the email whose processing raised the exception being handled.

        Its error is the exception in one line (``brief``) and where it was raised: never
        the exception's whole text, which may quote a statement and all its parameters.
        """
        exception = sys.exception()
        assert exception is not None  # noqa: S101 - called while handling an exception
        described = brief(exception)
        frames = _where(exception)
        error = f"{described}\n\nTraceback (most recent call last):\n{frames}"
        error_type = type(exception).__name__
        return self._park_reason(uow, raw_message_id, error_type, error, f"parked: {described}")

    def _park_reason(
        self, uow: UnitOfWork, raw_message_id: int, error_type: str, error: str, summary: str
    ) -> IngestResult:
        with uow.savepoint():
            uow.parked.park(
                raw_message_id,
                stage="process",
                error_type=error_type,
                error=error,
                parked_at=self._clock.now(),
            )
        return IngestResult(raw_message_id, Outcome.PARKED, summary)

    def _previous_result(self, uow: UnitOfWork, raw_id: int) -> IngestResult | None:
        decision = uow.decisions.get(raw_id)
        if decision is not None:
            return IngestResult(
                raw_id, decision.outcome, decision.summary, decision.activity_id, repeated=True
            )
        parked = uow.parked.get_by_raw(raw_id)
        if parked is not None:
            return IngestResult(raw_id, Outcome.PARKED, f"parked: {parked.error_type}", None, True)
        return None


def _where(exception: BaseException) -> str:
    """The last frames of Tidings' own code that led to ``exception`` (the library frames
    below them say little), else its last frames."""
    frames = traceback.extract_tb(exception.__traceback__)
    own = [frame for frame in frames if f"{os.sep}tidings{os.sep}" in frame.filename]
    return "".join(traceback.format_list((own or frames)[-8:]))


def _parked_decision(decided: StoredDecision) -> StoredDecision:
    """The header decision of an email parked after it, kept with every rule's verdict."""
    error = sys.exception()
    why = type(error).__name__ if error is not None else "an error"
    return replace(
        decided,
        outcome=Outcome.PARKED,
        activity_id=None,
        summary=f"{decided.summary}; parked while reading the whole email: {why}",
    )


class ReplayService:
    """Puts parked email back through processing (``tidings replay``)."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], ingest: IngestService) -> None:
        self._uow = uow_factory
        self._ingest = ingest

    def replay(self, parked_id: int) -> IngestResult:
        """Process one parked email again; on success it leaves the parked list."""
        with self._uow() as uow:
            parked = uow.parked.get(parked_id)
        if parked is None:
            raise NotFoundError(f"no parked email with id {parked_id}")
        return self._ingest.process(parked.raw_message_id)

    def replay_all(self) -> list[IngestResult]:
        """Process every parked email again, and any kept email never decided (a crash)."""
        with self._uow() as uow:
            raw_ids = [p.raw_message_id for p in uow.parked.all()]
            raw_ids += uow.raw_messages.undecided_ids()
        return [self._ingest.process(raw_id) for raw_id in raw_ids]
