"""Explain: why an email was (or wasn't) tracked, rule by rule, and the conversation it is in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tidings.domain.access_levels import Scope
from tidings.domain.activity import EmailActivity
from tidings.domain.errors import NotFoundError
from tidings.domain.message import parse_message_ids
from tidings.domain.tracking import Correlation, Outcome, Reason
from tidings.services.ports import UnitOfWork


@dataclass(frozen=True)
class Explanation:
    """The story of one stored copy of an email."""

    raw_message_id: int
    message_id: str | None
    mailbox_address: str
    folder: str
    stored_at: datetime
    outcome: Outcome | None
    summary: str
    reasons: tuple[Reason, ...]
    correlation: Correlation | None
    activity_id: int | None
    parked_error: str | None
    #: The conversation of the tracked email, oldest first (at most ``THREAD_LIMIT``).
    conversation: tuple[EmailActivity, ...] = ()
    #: The tracked email correlation found: the one this email answers.
    matched: EmailActivity | None = None

    @property
    def conversation_id(self) -> str | None:
        return self.correlation.conversation_id if self.correlation else None


#: The most activities of a conversation an explanation lists.
THREAD_LIMIT = 100


class ExplainService:
    """Answers "why was (or wasn't) this email tracked?"."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow = uow_factory

    def by_message_id(self, message_id: str, scope: Scope | None = None) -> list[Explanation]:
        """Every stored copy of the email with this Message-ID (with or without brackets)
        that ``scope`` reaches: an explanation is as private as the email."""
        ids = parse_message_ids(message_id) or (f"<{message_id.strip()}>",)
        with self._uow() as uow:
            raw_ids = uow.raw_messages.ids_by_message_id(ids[0], scope=scope)
            return [self._explain(uow, raw_id, scope) for raw_id in raw_ids]

    def by_raw_id(self, raw_message_id: int, scope: Scope | None = None) -> Explanation:
        """The story of one stored email; ``NotFoundError`` if ``scope`` does not reach it."""
        with self._uow() as uow:
            if scope is not None and not uow.raw_messages.is_within(raw_message_id, scope):
                raise NotFoundError(f"no stored email with id {raw_message_id}")
            return self._explain(uow, raw_message_id, scope)

    def _explain(self, uow: UnitOfWork, raw_id: int, scope: Scope | None) -> Explanation:
        stored = uow.raw_messages.require(raw_id)
        mailbox = uow.mailboxes.get(stored.origin.mailbox_id)
        decision = uow.decisions.get(raw_id)
        parked = uow.parked.get_by_raw(raw_id)
        outcome = decision.outcome if decision else (Outcome.PARKED if parked else None)
        summary = decision.summary if decision else "not decided yet"
        if parked is not None and decision is None:
            summary = f"parked at {parked.stage}: {parked.error_type}"
        correlation = decision.correlation if decision else None
        conversation: list[EmailActivity] = []
        matched = None
        if correlation is not None and correlation.conversation_id is not None:
            conversation = uow.activities.conversation(
                correlation.conversation_id, THREAD_LIMIT, parties=False, scope=scope
            )
        if correlation is not None and correlation.activity_id is not None:
            matched = uow.activities.get(correlation.activity_id, scope=scope)
        return Explanation(
            raw_message_id=raw_id,
            message_id=stored.message_id,
            mailbox_address=mailbox.address if mailbox else "?",
            folder=stored.origin.folder,
            stored_at=stored.stored_at,
            outcome=outcome,
            summary=summary,
            reasons=decision.decision.reasons if decision else (),
            correlation=correlation,
            activity_id=decision.activity_id if decision else None,
            parked_error=parked.error if parked else None,
            conversation=tuple(conversation),
            matched=matched,
        )
