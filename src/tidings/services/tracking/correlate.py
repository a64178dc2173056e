"""Stage 5, correlate: a tracked email becomes an activity linked to its world — its
parties resolved to users, queues, contacts, accounts and leads (contacts created for
unknown senders when the owner asks), its regarding record and conversation taken from
what it answers (In-Reply-To, tracking token, conversation index, smart matching, in the
order the domain's ``correlate`` tries them) or from its folder rule.

Later email of the same batch sees the activity at once (``BatchLookups.activity_recorded``),
before it is saved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tidings.domain.activity import ActivityParty, ActivityStatus, Direction, EmailActivity
from tidings.domain.conversation import bound_references, starting_conversation
from tidings.domain.correlation import choose_regarding, find_tracking_token, subject_key
from tidings.domain.message import Address
from tidings.domain.parties import resolve_parties, unresolved_senders
from tidings.domain.records import Contact, RecordKind, RecordRef
from tidings.domain.stored import StoredRaw
from tidings.domain.tracking import TrackingFacts
from tidings.services.ports import UnitOfWork
from tidings.services.tracking.batch_lookups import BatchLookups
from tidings.services.tracking.gather_facts import identity_of


def link_in_batch(
    uow: UnitOfWork, lookups: BatchLookups, stored: StoredRaw, facts: TrackingFacts, now: datetime
) -> EmailActivity:
    """The activity of a tracked email, linked, and seen by the rest of its batch."""
    activity = build_activity(uow, lookups, stored, facts, now)
    lookups.activity_recorded(activity, identity_of(stored))
    return activity


def build_activity(
    uow: UnitOfWork, lookups: BatchLookups, stored: StoredRaw, facts: TrackingFacts, now: datetime
) -> EmailActivity:
    """The activity a tracked email becomes, with its parties, not saved yet.

    Contacts for unknown senders are created here when the owner's option asks for them.
    """
    headers, config = facts.headers, facts.config
    correlation = choose_regarding(facts.correlation, facts.folder_rule)
    outgoing = facts.is_outgoing
    return EmailActivity(
        owner=facts.owner.ref,
        mailbox_id=facts.mailbox.id,
        subject=headers.subject,
        direction=Direction.OUTGOING if outgoing else Direction.INCOMING,
        status=ActivityStatus.SENT if outgoing else ActivityStatus.RECEIVED,
        message_id=headers.message_id,
        received_at=headers.date or stored.stored_at,
        in_reply_to=headers.in_reply_to[0] if headers.in_reply_to else None,
        references=bound_references(headers.references),
        # A reply joins the conversation of what it answers; anything else starts one.
        conversation_id=correlation.conversation_id or starting_conversation(identity_of(stored)),
        conversation_index=headers.conversation_id,
        subject_key=subject_key(headers.subject, config.tracking_token),
        # A token is the identity of email the owner sent; a reply only points at it.
        tracking_token=(
            find_tracking_token(headers.subject, config.tracking_token) if outgoing else None
        ),
        regarding=correlation.regarding,
        correlation=correlation.method,
        matched_activity_id=correlation.activity_id,
        raw_message_id=stored.id,
        parties=_parties(uow, lookups, facts),
        created_at=now,
        unsaved_match=correlation.unsaved,
    )


def _parties(uow: UnitOfWork, lookups: BatchLookups, facts: TrackingFacts) -> list[ActivityParty]:
    headers, owner, address = facts.headers, facts.owner.ref, facts.mailbox.address
    ambiguous = facts.config.ambiguous_match
    parties = resolve_parties(headers, facts.matches, ambiguous, owner, address)
    if not facts.owner.options.create_contacts_for_unknown_senders:
        return parties
    # The mailbox's user owns them, as D365 has it; a queue owns no records.
    creator = owner.id if owner.kind is RecordKind.USER else None
    created = _create_contacts(uow, unresolved_senders(parties, address), creator)
    if not created:
        return parties
    lookups.records_created(created)
    return resolve_parties(headers, {**facts.matches, **created}, ambiguous, owner, address)


def _create_contacts(
    uow: UnitOfWork, addresses: Sequence[Address], owner_id: int | None
) -> dict[str, list[RecordRef]]:
    created: dict[str, list[RecordRef]] = {}
    for address in addresses:
        contact = Contact(full_name=address.name or address.address, emails=(address.address,))
        created[address.address] = [
            RecordRef(RecordKind.CONTACT, uow.records.add(contact, owner_id=owner_id))
        ]
    return created
