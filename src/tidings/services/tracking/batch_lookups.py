"""What deciding a batch of email reads from storage, read once for the whole batch.

Deciding one email asks who owns its addresses, whether it was tracked before and which
tracked email it answers. Asking per email costs a few queries each; a batch asks once for
the addresses, identities, Message-IDs, tokens and conversations of all its email, and then
keeps the answers current as the batch records activities and creates contacts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tidings.domain.activity import CorrelationMethod, EmailActivity
from tidings.domain.conversation import bound_references
from tidings.domain.correlation import find_tracking_token
from tidings.domain.message import HeaderSummary
from tidings.domain.records import RecordRef
from tidings.domain.settings import TrackingTokenFormat
from tidings.domain.tracking import Correlation
from tidings.services.ports import UnitOfWork


class BatchLookups:
    """Answers for one batch; implements the domain's ``CorrelationLookup``."""

    def __init__(
        self,
        uow: UnitOfWork,
        headers: Sequence[HeaderSummary],
        identities: Iterable[str],
        token_format: TrackingTokenFormat,
    ) -> None:
        self._uow = uow
        activities = uow.activities
        self._addresses = uow.directory.records_by_address(
            {a for h in headers for a in h.addresses()}
        )
        self._known = {a for h in headers for a in h.addresses()}
        self._owners = activities.owners_by_identity(identities)
        self._by_message_id = activities.correlations_by_message_id(
            {i for h in headers for i in (*h.in_reply_to, *bound_references(h.references))}
        )
        tokens = {find_tracking_token(h.subject, token_format) for h in headers}
        self._by_token = activities.correlations_by_token(t for t in tokens if t)
        self._by_conversation = activities.correlations_by_conversation(
            {h.conversation_id for h in headers if h.conversation_id}
        )

    def records(self, addresses: Iterable[str]) -> dict[str, list[RecordRef]]:
        """The records each address belongs to."""
        wanted = set(addresses)
        missing = wanted - self._known
        if missing:
            self._addresses.update(self._uow.directory.records_by_address(missing))
            self._known |= missing
        return {a: self._addresses[a] for a in wanted if a in self._addresses}

    def owners_of(self, identity: str) -> frozenset[RecordRef]:
        return frozenset(self._owners.get(identity, ()))

    def by_message_ids(self, message_ids: tuple[str, ...]) -> Correlation | None:
        # The first id is the most direct answer (In-Reply-To, then the newest reference).
        return next((self._by_message_id[i] for i in message_ids if i in self._by_message_id), None)

    def by_tracking_token(self, token: str) -> Correlation | None:
        return self._by_token.get(token)

    def by_conversation(self, conversation_id: str) -> Correlation | None:
        return self._by_conversation.get(conversation_id)

    def by_subject(
        self, subject_key: str, addresses: set[str], min_shared: int
    ) -> Correlation | None:
        # Smart matching is off by default and needs a join over parties: ask each time.
        return self._uow.activities.correlate_subject(subject_key, addresses, min_shared)

    def activity_recorded(self, activity: EmailActivity, identity: str) -> None:
        """Let later email of the batch see an activity this batch recorded.

        The activity may not be saved yet (no id): what later email takes from it is its
        owner, regarding record and conversation, and the activity itself, whose id
        ``save_activities`` gives the email that matched it.
        """
        self._owners.setdefault(identity, set()).add(activity.owner)

        def found(method: CorrelationMethod) -> Correlation:
            unsaved = activity if activity.id is None else None
            conversation = activity.conversation_id
            return Correlation(method, activity.id, activity.regarding, conversation, unsaved)

        if activity.message_id:
            by_id = found(CorrelationMethod.IN_REPLY_TO)
            self._by_message_id.setdefault(activity.message_id, by_id)
        if activity.tracking_token:
            self._by_token[activity.tracking_token] = found(CorrelationMethod.TRACKING_TOKEN)
        if activity.conversation_index:
            self._by_conversation[activity.conversation_index] = found(
                CorrelationMethod.CONVERSATION_INDEX
            )

    def owners_changed(self, identity: str) -> None:
        """Another process recorded this email meanwhile: ask storage again."""
        self._owners.update(self._uow.activities.owners_by_identity([identity]))

    def records_created(self, created: dict[str, list[RecordRef]]) -> None:
        """Let later email of the batch resolve to contacts this batch created."""
        for address, refs in created.items():
            self._addresses.setdefault(address, []).extend(refs)
            self._known.add(address)
