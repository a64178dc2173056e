"""The one place where a batch of email goes through the stages of tracking, in order.

``IngestService._track`` is the list of stages after the raw bytes are kept; everything
else here is about batching: header blocks read a batch or two ahead, the next batch kept
while this one is parsed, one transaction per batch (two commits, not two per email), and a
batch that fails as a whole halved until the failing email parks alone. The package
docstring draws the path.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Protocol

from tidings.domain.access_levels import Scope
from tidings.domain.errors import ConflictError, NotFoundError, StorageError
from tidings.domain.message import HeaderSummary, MessageOrigin, ParsedEmail, try_parse_headers
from tidings.domain.settings import EmailConfiguration
from tidings.domain.stored import StoredDecision, StoredRaw
from tidings.domain.tracking import Outcome
from tidings.services.ports import Clock, MessageParser, UnitOfWork
from tidings.services.tracking import correlate, decide, keep_raw, read_headers, record, tell
from tidings.services.tracking.gather_facts import BatchFacts, identity_of
from tidings.services.tracking.keep_raw import Kept
from tidings.services.tracking.park import park, parked_decision
from tidings.services.tracking.results import IngestResult, Pending

#: Tracked emails handed to the parser together while the rest of a batch is decided.
_PARSE_GROUP = 8
#: ... or fewer, after this many emails decided: where few are tracked, they are parsed
#: meanwhile too, rather than all at the end of the batch while it waits.
_PARSE_EVERY = 25

#: Whole emails being parsed, by raw id; calling one waits for it.
_Parsing = dict[int, Callable[[], ParsedEmail]]


class _Tracker(Protocol):
    """Tracks a list of pending email in the caller's savepoint."""

    def __call__(
        self, uow: UnitOfWork, pending: list[Pending], parsing: _Parsing
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

    def start_headers(
        self, batch: Sequence[tuple[bytes, MessageOrigin]]
    ) -> Callable[[], list[HeaderSummary | None]]:
        """Start reading a batch's header blocks in the parse processes, ahead of
        ``ingest_batch``; calling the result waits for them."""
        return read_headers.start_headers(self._parser, batch)

    def ingest_batch(
        self,
        batch: Sequence[tuple[bytes, MessageOrigin]],
        headers: Sequence[HeaderSummary | None] | None = None,
    ) -> list[IngestResult]:
        """Store and process many emails; results come back in the order given."""
        if headers is None:
            headers = read_headers.start_headers(self._parser, batch)()
        return self._finish(batch, self._keep(batch, headers))

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
        headers = read_headers.start_headers(self._parser, batch)
        # Header blocks are parsed two batches ahead: the next batch's are needed while the
        # current one is decided, to keep its raw bytes alongside.
        following = next(chunks, None)
        following_headers = read_headers.start_headers(self._parser, following or [])
        kept = self._keep(batch, headers())
        while True:
            after = next(chunks, None)
            after_headers = read_headers.start_headers(self._parser, after or [])
            ahead: list[Kept] = []
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
                        keep_raw.resolve_seen(uow, kept)
            else:  # not kept alongside (nothing to decide, or it failed): as on its own
                kept = self._keep(batch, following_headers())
            following, following_headers = after, after_headers

    def process(self, raw_message_id: int) -> IngestResult:
        """Decide and record one stored email again (replay); park it if anything fails."""
        with self._uow() as uow:
            stored = uow.raw_messages.require(raw_message_id)
            previous = uow.decisions.get(raw_message_id)
            if previous is not None and previous.outcome is Outcome.PARKED:
                uow.decisions.delete(raw_message_id)  # decided anew
            pending = [Pending(0, stored, try_parse_headers(stored.raw))]
            result = self._track(uow, pending)[0]
            if result.outcome is not Outcome.PARKED:
                uow.parked.remove_by_raw(raw_message_id)
            uow.commit()
        return result

    def _keep(
        self,
        batch: Sequence[tuple[bytes, MessageOrigin]],
        headers_of: Sequence[HeaderSummary | None],
    ) -> Kept:
        """Commit the raw bytes of every new origin; say which emails still need deciding."""
        with self._uow() as uow:
            kept = keep_raw.keep_new(uow, batch, headers_of, self._clock.now())
            uow.commit()
            keep_raw.resolve_seen(uow, kept)
        return kept

    def _keep_alongside(
        self,
        ahead: list[Kept],
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
                ahead.append(keep_raw.keep_new(uow, batch, headers(), self._clock.now()))
        except StorageError:
            raise
        except Exception:  # stored again on its own, where it fails as it does
            ahead.clear()

    def _finish(
        self,
        batch: Sequence[tuple[bytes, MessageOrigin]],
        kept: Kept,
        meanwhile: Callable[[UnitOfWork], None] | None = None,
    ) -> list[IngestResult]:
        """Track a kept batch; ``meanwhile`` runs in its transaction while parsing ends."""
        results = kept.results
        if kept.pending:
            parsing: _Parsing = {}
            if len(kept.pending) <= _PARSE_GROUP:
                # A few emails (a push) are handed to the parser before the transaction
                # begins, tracked or not: on SQLite it holds the write lock, which every
                # other folder waits for, and it must not wait for a parse process to be
                # scheduled on a busy machine.
                self._start_parsing(parsing, [item.stored for item in kept.pending])
            with self._uow() as uow:
                results.update(self._track(uow, kept.pending, meanwhile, parsing))
                uow.commit()
        for index, first in kept.repeats.items():
            results[index] = replace(results[first], repeated=True)
        return [results[index] for index in range(len(batch))]

    def _track(
        self,
        uow: UnitOfWork,
        pending: list[Pending],
        meanwhile: Callable[[UnitOfWork], None] | None = None,
        parsing: _Parsing | None = None,
    ) -> dict[int, IngestResult]:
        """The stages after the raw bytes are kept, for a batch, in its transaction
        (``parsing``: what is being parsed already).

        What is not an email at all parks first (read the headers); what the rules do not
        decide comes next (decide: the tracking address, track when sent); the rest goes
        through gather the facts, decide, correlate, record and tell, all together
        (``_track_together``) unless that fails: then the attempt is undone and the batch is
        halved until the failing email is alone (``_bisect``), so that it parks alone.
        Parsing started for one attempt serves the next.
        """
        # Whatever else decides about the same email (another mailbox's worker, a move seen
        # from its other folder) waits until this batch commits, and is judged after it.
        uow.raw_messages.hold_identities([identity_of(item.stored) for item in pending])
        results = read_headers.park_unreadable(uow, self._clock, pending)
        pending = [item for item in pending if item.index not in results]
        results.update(decide.BeforeRules(uow, self._clock).decide(pending))
        pending = [item for item in pending if item.index not in results]
        if not pending:
            if meanwhile is not None:
                meanwhile(uow)
            return results
        parsing = {} if parsing is None else parsing
        # Smart matching asks storage about the activities recorded before each email: with
        # it, email is recorded one by one.
        smart = uow.settings.get().use_smart_matching
        track: _Tracker = (
            self._track_one_by_one
            if smart
            else functools.partial(self._track_together, meanwhile=None)
        )
        try:
            with uow.savepoint():
                if smart:
                    if meanwhile is not None:
                        meanwhile(uow)
                    tracked = self._track_one_by_one(uow, pending, parsing)
                else:
                    tracked = self._track_together(uow, pending, parsing, meanwhile)
            results.update(tracked)
            return results
        except StorageError:
            raise
        except Exception:  # noqa: S110 - tracked again below, in halves
            pass
        if meanwhile is not None:  # undone with the attempt
            meanwhile(uow)
        results.update(self._bisect(uow, pending, parsing, track))
        return results

    def _track_together(
        self,
        uow: UnitOfWork,
        pending: list[Pending],
        parsing: _Parsing,
        meanwhile: Callable[[UnitOfWork], None] | None,
    ) -> dict[int, IngestResult]:
        """Stages 3 to 7 for a whole batch: each email's facts, decision and links in order
        (later email sees what earlier email recorded), then one recording for all."""
        results: dict[int, IngestResult] = {}
        batch = BatchFacts.read(uow, pending)
        tracked: list[record.Tracked] = []
        tracked_at: list[int] = []  # the index of each tracked email in the batch
        not_tracked: list[StoredDecision] = []
        unparsed: list[StoredRaw] = []  # tracked, not handed to the parser yet
        since_handed = 0
        for item in pending:
            since_handed += 1
            facts = batch.of(item)  # 3. gather the facts
            decided = decide.by_rules(facts, item.stored, self._clock)  # 4. decide
            if decided.decision.tracked:
                now = self._clock.now()  # 5. correlate
                activity = correlate.link_in_batch(uow, batch.lookups, item.stored, facts, now)
                tracked.append(record.Tracked(item.stored, decided, activity))
                tracked_at.append(item.index)
                unparsed.append(item.stored)
            else:
                not_tracked.append(decided)
                results[item.index] = IngestResult(item.stored.id, decided.outcome, decided.summary)
            # Workers start while the rest is decided, so that little is left to wait for.
            if len(unparsed) == _PARSE_GROUP or (unparsed and since_handed >= _PARSE_EVERY):
                self._start_parsing(parsing, unparsed)
                unparsed, since_handed = [], 0
        self._start_parsing(parsing, unparsed)
        # 6. record: first what needs no parsing, while the last emails are parsed.
        uow.decisions.add_many(not_tracked)
        if meanwhile is not None:
            meanwhile(uow)
        recorded = record.record_together(
            uow,
            tracked,
            lambda stored: parsing[stored.id](),
            lambda stored: batch.context(stored.origin.mailbox_id).config,
        )
        tell.activities_recorded(uow, [item.activity for item in tracked])  # 7. tell
        for index, kept in zip(tracked_at, recorded, strict=True):
            results[index] = IngestResult(
                kept.raw_message_id, kept.outcome, kept.summary, kept.activity_id
            )
        return results

    def _track_one_by_one(
        self, uow: UnitOfWork, pending: list[Pending], parsing: _Parsing
    ) -> dict[int, IngestResult]:
        """Every stage for each email in turn, recorded from its headers in its own
        savepoint; tracked ones are parsed meanwhile and their content filled in after."""
        results: dict[int, IngestResult] = {}
        batch = BatchFacts.read(uow, pending)
        not_tracked: list[StoredDecision] = []
        tracked: list[tuple[Pending, IngestResult]] = []
        for item in pending:
            result = self._track_one(batch, item, not_tracked)
            results[item.index] = result
            if result.outcome is Outcome.TRACKED:
                tracked.append((item, result))
                self._parse(parsing, item.stored)
        # Decisions that recorded nothing are independent rows: one statement for all.
        uow.decisions.add_many(not_tracked)
        for item, result in tracked:
            config = batch.context(item.stored.origin.mailbox_id).config
            parsed = parsing[item.stored.id]
            results[item.index] = self._fill(uow, item.stored, result, parsed, config)
        return results

    def _track_one(
        self, batch: BatchFacts, item: Pending, not_tracked: list[StoredDecision]
    ) -> IngestResult:
        for attempt in range(decide.CONFLICT_RETRIES + 1):
            try:
                return self._decide_and_record(batch, item, not_tracked)
            except StorageError:
                raise  # the database itself failed: parking would fail too
            except ConflictError:
                # Another worker recorded the same email at the same moment; deciding again
                # sees its activity and says "already tracked".
                if attempt == decide.CONFLICT_RETRIES:
                    return park(batch.uow, self._clock, item.stored.id)
                batch.lookups.owners_changed(identity_of(item.stored))
            except Exception:  # any failure parks the email: nothing is lost
                return park(batch.uow, self._clock, item.stored.id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decide_and_record(
        self, batch: BatchFacts, item: Pending, not_tracked: list[StoredDecision]
    ) -> IngestResult:
        stored, uow = item.stored, batch.uow
        facts = batch.of(item)
        decided = decide.by_rules(facts, stored, self._clock)
        if not decided.decision.tracked:
            not_tracked.append(decided)
            return IngestResult(stored.id, Outcome.NOT_TRACKED, decided.summary)
        with uow.savepoint():
            now = self._clock.now()
            activity_id = record.record_activity(uow, batch.lookups, stored, facts, now)
            uow.decisions.add(replace(decided, outcome=Outcome.TRACKED, activity_id=activity_id))
        return IngestResult(stored.id, Outcome.TRACKED, decided.summary, activity_id)

    def _bisect(
        self, uow: UnitOfWork, pending: list[Pending], parsing: _Parsing, track: _Tracker
    ) -> dict[int, IngestResult]:
        """Track a batch that failed as a whole, each half in its own savepoint, halving
        again whatever fails until the email that fails is alone: it parks with its error,
        and every other email of the batch is decided.

        Halves are tracked in order, so that later email sees what earlier email recorded,
        as it does in one batch. An email alone is tracked one by one, which parks what
        fails in it and retries a lost race to record the same email.
        """
        if len(pending) == 1:
            return self._track_alone(uow, pending[0], parsing)
        results: dict[int, IngestResult] = {}
        middle = len(pending) // 2
        for half in (pending[:middle], pending[middle:]):
            try:
                with uow.savepoint():
                    results.update(track(uow, half, parsing))
            except StorageError:
                raise
            except Exception:  # halved again until the failing email is alone
                results.update(self._bisect(uow, half, parsing, track))
        return results

    def _track_alone(
        self, uow: UnitOfWork, item: Pending, parsing: _Parsing
    ) -> dict[int, IngestResult]:
        try:
            with uow.savepoint():
                return self._track_one_by_one(uow, [item], parsing)
        except StorageError:
            raise
        except Exception:  # what failed outside one email's own savepoint: its lookups
            return {item.index: park(uow, self._clock, item.stored.id)}

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
                record.fill_content(uow, result.activity_id, parsed(), config)
        except StorageError:
            raise
        except Exception:  # parked whole, never half-recorded
            with uow.savepoint():
                decided = uow.decisions.get(stored.id)
                uow.decisions.delete(stored.id)
                uow.activities.delete(result.activity_id)
                if decided is not None:  # every rule's verdict stays for the explanation
                    uow.decisions.add(parked_decision(decided))
            return park(uow, self._clock, stored.id)
        return result

    def _parse(self, parsing: _Parsing, stored: StoredRaw) -> Callable[[], ParsedEmail]:
        if stored.id not in parsing:
            parsing[stored.id] = self._parser.start_email(stored.raw)
        return parsing[stored.id]

    def _start_parsing(self, parsing: _Parsing, stored: list[StoredRaw]) -> None:
        # Parsing started by an attempt that failed serves the next one.
        stored = [item for item in stored if item.id not in parsing]
        started = self._parser.start_emails([item.raw for item in stored])
        parsing.update(zip([item.id for item in stored], started, strict=True))


class ReplayService:
    """Puts parked email back through processing (``tidings replay``)."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], ingest: IngestService) -> None:
        self._uow = uow_factory
        self._ingest = ingest

    def replay(self, parked_id: int, *, scope: Scope | None = None) -> IngestResult:
        """Process one parked email again; on success it leaves the parked list.

        With a ``scope``, only email of the mailboxes it reaches: another one reads as not
        there (``NotFoundError``), so that its existence is not told. ``None``: any email
        (the operator's command line)."""
        with self._uow() as uow:
            parked = uow.parked.get(parked_id, scope=scope)
        if parked is None:
            raise NotFoundError(f"no parked email with id {parked_id}")
        return self._ingest.process(parked.raw_message_id)

    def replay_all(self, *, scope: Scope | None = None) -> list[IngestResult]:
        """Process every parked email again, and any kept email never decided (a crash):
        of the mailboxes ``scope`` reaches, or of every mailbox (``None``)."""
        with self._uow() as uow:
            raw_ids = [p.raw_message_id for p in uow.parked.all(scope=scope)]
            raw_ids += uow.raw_messages.undecided_ids(scope=scope)
        return [self._ingest.process(raw_id) for raw_id in raw_ids]
