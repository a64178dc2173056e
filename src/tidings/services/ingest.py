"""Ingest: keep the raw bytes, decide, and record the email activity — idempotently.

The path of one email (DESIGN.md steps 2–7):

1. the raw bytes are committed first, keyed by where they came from; offering the same origin
   again returns the first result and changes nothing;
2. the header block is read and every tracking rule decides, each with its reason;
3. only email that will be tracked is parsed whole: parties resolved, regarding correlated,
   attachments admitted, all recorded with the decision in one transaction;
4. any failure after step 1 parks the email with its error; ``replay`` runs step 2 again.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass

from tidings.domain.correlation import choose_regarding
from tidings.domain.errors import ConflictError, NotFoundError, StorageError
from tidings.domain.message import MessageOrigin, content_hash, parse_headers
from tidings.domain.rules import decide
from tidings.domain.stored import StoredDecision
from tidings.domain.tracking import Outcome
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.recording import gather_facts, record_activity


@dataclass(frozen=True)
class IngestResult:
    """What became of one offered email."""

    raw_message_id: int
    outcome: Outcome
    summary: str
    activity_id: int | None = None
    #: True when this origin had been offered before and nothing new was done.
    repeated: bool = False


class IngestService:
    """Turns raw email from a mailbox into tracking decisions and email activities."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow = uow_factory
        self._clock = clock

    def ingest(self, raw: bytes, origin: MessageOrigin) -> IngestResult:
        """Store ``raw`` (unless this origin was seen) and process it."""
        with self._uow() as uow:
            if uow.mailboxes.get(origin.mailbox_id) is None:
                raise NotFoundError(f"no mailbox with id {origin.mailbox_id}")
            raw_id = uow.raw_messages.get_id_by_origin(origin)
            if raw_id is not None:
                previous = self._previous_result(uow, raw_id)
                if previous is not None:
                    return previous
            else:
                message_id = parse_headers(raw).message_id
                raw_id = uow.raw_messages.add(
                    origin, raw, message_id, content_hash(raw), self._clock.now()
                )
                uow.commit()
        return self.process(raw_id)

    def process(self, raw_message_id: int) -> IngestResult:
        """Decide and record one stored email; park it if anything fails."""
        for attempt in (1, 2):
            try:
                return self._decide_and_record(raw_message_id)
            except StorageError:
                raise  # the database itself is gone: parking would fail too
            except ConflictError:
                # Another worker recorded the same email at the same moment; deciding again
                # now sees its activity and says "already tracked".
                if attempt == 2:
                    return self._park(raw_message_id)
            except Exception:
                return self._park(raw_message_id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decide_and_record(self, raw_message_id: int) -> IngestResult:
        with self._uow() as uow:
            stored = uow.raw_messages.require(raw_message_id)
            headers = parse_headers(stored.raw)
            facts = gather_facts(uow, stored, headers)
            decision = decide(facts)
            activity_id = None
            if decision.tracked:
                activity_id = record_activity(uow, stored, facts, self._clock.now())
            outcome = Outcome.TRACKED if activity_id is not None else Outcome.NOT_TRACKED
            uow.decisions.add(
                StoredDecision(
                    raw_message_id=raw_message_id,
                    outcome=outcome,
                    summary=decision.summary(),
                    decision=decision,
                    correlation=choose_regarding(facts.correlation, facts.folder_rule),
                    activity_id=activity_id,
                    decided_at=self._clock.now(),
                )
            )
            parked = uow.parked.get_by_raw(raw_message_id)
            if parked is not None:
                uow.parked.remove(parked.id)
            uow.commit()
        return IngestResult(raw_message_id, outcome, decision.summary(), activity_id)

    def _park(self, raw_message_id: int) -> IngestResult:
        error = traceback.format_exc(limit=8)
        last_line = error.strip().splitlines()[-1]
        error_type, _, message = last_line.partition(":")
        with self._uow() as uow:
            uow.parked.park(
                raw_message_id,
                stage="process",
                error_type=error_type.strip()[:200],
                error=error,
                parked_at=self._clock.now(),
            )
            uow.commit()
        return IngestResult(raw_message_id, Outcome.PARKED, f"parked: {message.strip()}")

    def _previous_result(self, uow: UnitOfWork, raw_id: int) -> IngestResult | None:
        decision = uow.decisions.get(raw_id)
        if decision is not None:
            return IngestResult(
                raw_id, decision.outcome, decision.summary, decision.activity_id, repeated=True
            )
        parked = uow.parked.get_by_raw(raw_id)
        if parked is not None:
            return IngestResult(raw_id, Outcome.PARKED, f"parked: {parked.error_type}", None, True)
        return None  # stored but never decided (a crash in between): decide it now


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
        """Process every parked email again, oldest first."""
        with self._uow() as uow:
            parked = uow.parked.all()
        return [self._ingest.process(p.raw_message_id) for p in parked]
