"""Stage 4, decide: tracked or not, with every rule's reason, kept so that ``tidings
explain`` and the console can answer "why was (or wasn't) this tracked?".

Two kinds of email are decided before the rules: what arrives at the tracking address, and
a sent copy someone asked to track when sent (its token read with the headers). Each is
decided and recorded in its own savepoint; a failure parks it alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidings.domain.correlation import choose_regarding
from tidings.domain.errors import ConflictError, StorageError
from tidings.domain.mailbox import Mailbox
from tidings.domain.rules import decide
from tidings.domain.settings import EmailConfiguration
from tidings.domain.stored import StoredDecision, StoredRaw
from tidings.domain.tracking import Outcome, TrackingFacts
from tidings.services import track_when_sent, tracking_address
from tidings.services.ports import Clock, UnitOfWork
from tidings.services.tracking.park import park
from tidings.services.tracking.read_headers import track_token
from tidings.services.tracking.results import IngestResult, Pending

#: How often an email is decided again after losing a race to record the same email.
CONFLICT_RETRIES = 1


def by_rules(facts: TrackingFacts, stored: StoredRaw, clock: Clock) -> StoredDecision:
    """Every rule's verdict on one email, as kept when it records nothing."""
    decision = decide(facts)
    return StoredDecision(
        raw_message_id=stored.id,
        outcome=Outcome.NOT_TRACKED,
        summary=decision.summary(),
        decision=decision,
        correlation=choose_regarding(facts.correlation, facts.folder_rule),
        activity_id=None,
        decided_at=clock.now(),
    )


@dataclass(frozen=True)
class BeforeRules:
    """Deciding what the rules do not decide, in the batch's transaction."""

    uow: UnitOfWork
    clock: Clock

    def decide(self, pending: list[Pending]) -> dict[int, IngestResult]:
        """Decide and record email for the tracking address, and sent copies asked to be
        tracked when sent; other email is left to the rules."""
        uow = self.uow
        results: dict[int, IngestResult] = {}
        config = uow.settings.get()
        mailboxes: dict[int, Mailbox | None] = {}
        for item in pending:
            mailbox_id = item.stored.origin.mailbox_id
            token = track_token(item.stored.raw)
            if config.tracking_address is None and token is None:
                continue
            if mailbox_id not in mailboxes:
                mailboxes[mailbox_id] = uow.mailboxes.get(mailbox_id)
            result = self._once(config, mailboxes[mailbox_id], item, token)
            if result is not None:
                results[item.index] = result
        return results

    def _once(
        self,
        config: EmailConfiguration,
        mailbox: Mailbox | None,
        item: Pending,
        token: str | None,
    ) -> IngestResult | None:
        for attempt in range(CONFLICT_RETRIES + 1):
            try:
                with self.uow.savepoint():
                    return self._decide(config, mailbox, item.stored, token)
            except StorageError:
                raise
            except ConflictError:
                # Recorded meanwhile from another mailbox (the sent copy, say): deciding
                # again finds it tracked.
                if attempt == CONFLICT_RETRIES:
                    return park(self.uow, self.clock, item.stored.id)
            except Exception:  # parked alone, as any email whose deciding fails
                return park(self.uow, self.clock, item.stored.id)
        raise AssertionError("unreachable")  # pragma: no cover

    def _decide(
        self,
        config: EmailConfiguration,
        mailbox: Mailbox | None,
        stored: StoredRaw,
        token: str | None,
    ) -> IngestResult | None:
        uow, now = self.uow, self.clock.now()
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
