"""Gathering the facts a decision needs, and recording a tracked email as an activity."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tidings.domain.activity import (
    ActivityParty,
    ActivityStatus,
    Attachment,
    Direction,
    EmailActivity,
)
from tidings.domain.attachments import admit_attachment, unread_parts_entry
from tidings.domain.conversation import bound_references, starting_conversation
from tidings.domain.correlation import choose_regarding, correlate, find_tracking_token, subject_key
from tidings.domain.errors import NotFoundError
from tidings.domain.folders import FolderTrackingRule, is_inbox
from tidings.domain.mailbox import Mailbox
from tidings.domain.message import Address, HeaderSummary, ParsedEmail
from tidings.domain.parties import resolve_parties, unresolved_senders
from tidings.domain.people import privileges_of
from tidings.domain.records import Contact, RecordKind, RecordRef
from tidings.domain.settings import EmailConfiguration
from tidings.domain.stored import StoredRaw
from tidings.domain.tracking import Owner, TrackingFacts
from tidings.services import events
from tidings.services.lookups import BatchLookups
from tidings.services.ports import UnitOfWork


@dataclass(frozen=True)
class MailboxContext:
    """What every email of one mailbox shares, read once per batch."""

    config: EmailConfiguration
    mailbox: Mailbox
    owner: Owner
    folder_rules: dict[str, FolderTrackingRule]


def identity_of(stored: StoredRaw) -> str:
    """What makes two copies of an email the same email."""
    return stored.message_id or f"sha256:{stored.content_hash}"


def load_context(uow: UnitOfWork, mailbox_id: int) -> MailboxContext:
    """The settings, mailbox, owner and folder rules that decide one mailbox's email."""
    mailbox = uow.mailboxes.get(mailbox_id)
    if mailbox is None:
        raise NotFoundError(f"no mailbox with id {mailbox_id}")
    rules = {rule.folder: rule for rule in uow.mailboxes.folder_rules(mailbox_id)}
    return MailboxContext(uow.settings.get(), mailbox, load_owner(uow, mailbox.owner), rules)


def load_owner(uow: UnitOfWork, ref: RecordRef) -> Owner:
    """The mailbox owner with the privileges of its roles."""
    roles = uow.directory.roles()
    if ref.kind is RecordKind.USER:
        user = uow.directory.get_user(ref.id)
        if user is None:
            raise NotFoundError(f"the mailbox owner {ref} does not exist")
        privileges = privileges_of(user.role_ids, roles)
        return Owner(ref, user.full_name, privileges, user.options, user.is_active)
    queue = uow.directory.get_queue(ref.id)
    if queue is None:
        raise NotFoundError(f"the mailbox owner {ref} does not exist")
    return Owner(ref, queue.name, privileges_of(queue.role_ids, roles), queue.options)


def gather_facts(
    lookups: BatchLookups, context: MailboxContext, stored: StoredRaw, headers: HeaderSummary
) -> TrackingFacts:
    """Everything the rules need about one stored email."""
    folder = stored.origin.folder
    config = context.config
    matches = lookups.records(headers.addresses())
    sender = headers.sender.address if headers.sender else ""
    recipients = {a.address for a in (*headers.to, *headers.cc, *headers.bcc)}
    return TrackingFacts(
        config=config,
        mailbox=context.mailbox,
        owner=context.owner,
        folder=folder,
        folder_rule=None if is_inbox(folder) else context.folder_rules.get(folder),
        headers=headers,
        sender_kinds=frozenset(r.kind for r in matches.get(sender, ())),
        recipient_kinds=frozenset(r.kind for a in recipients for r in matches.get(a, ())),
        correlation=correlate(headers, config, lookups),
        tracked_for=lookups.owners_of(identity_of(stored)),
        matches=matches,
    )


def record_activity(
    uow: UnitOfWork, lookups: BatchLookups, stored: StoredRaw, facts: TrackingFacts, now: datetime
) -> int:
    """Record a tracked email as an activity from its headers; returns the activity's id.

    Body and attachments come later (``fill_content``), once the whole message is parsed,
    which may happen in another process meanwhile.
    """
    activity = build_activity(uow, lookups, stored, facts, now)
    save_activities(uow, [(activity, identity_of(stored))])
    assert activity.id is not None  # noqa: S101 - saved activities have ids
    lookups.activity_recorded(activity, identity_of(stored))
    return activity.id


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


def save_activities(uow: UnitOfWork, activities: Sequence[tuple[EmailActivity, str]]) -> None:
    """Create email activities (each with the identity of its email); sets their ids.

    An activity that answers another saved in the same statement learns its id only now.
    """
    uow.activities.add_many(activities)
    matched = []
    for activity, _ in activities:
        match = activity.unsaved_match
        if activity.matched_activity_id is None and match is not None and match.id is not None:
            activity.matched_activity_id = match.id
            assert activity.id is not None  # noqa: S101 - saved above
            matched.append((activity.id, match.id))
        activity.unsaved_match = None
    if matched:
        uow.activities.set_matched(matched)
    events.activities_created(uow, [activity for activity, _ in activities])


def fill_content(
    uow: UnitOfWork, activity_id: int, parsed: ParsedEmail, config: EmailConfiguration
) -> None:
    """Give a recorded activity its body and attachments, each admitted or blocked."""
    attachments = admitted_attachments(parsed, config)
    uow.activities.set_content(activity_id, parsed.text_body, parsed.html_body, attachments)


def add_content(activity: EmailActivity, parsed: ParsedEmail, config: EmailConfiguration) -> None:
    """Give an activity not saved yet its body and attachments, each admitted or blocked."""
    activity.text_body, activity.html_body = parsed.text_body, parsed.html_body
    activity.attachments = admitted_attachments(parsed, config)


def admitted_attachments(parsed: ParsedEmail, config: EmailConfiguration) -> list[Attachment]:
    """Every attachment of the email, kept or blocked with the reason; parts of a message
    too deep or too wide to read are noted as one blocked entry, so the activity says so."""
    admitted = [admit_attachment(part, config) for part in parsed.attachments]
    if parsed.unread:
        admitted.append(unread_parts_entry(parsed.unread))
    return admitted


def _parties(uow: UnitOfWork, lookups: BatchLookups, facts: TrackingFacts) -> list[ActivityParty]:
    headers, owner, address = facts.headers, facts.owner.ref, facts.mailbox.address
    ambiguous = facts.config.ambiguous_match
    parties = resolve_parties(headers, facts.matches, ambiguous, owner, address)
    if not facts.owner.options.create_contacts_for_unknown_senders:
        return parties
    created = _create_contacts(uow, unresolved_senders(parties, address))
    if not created:
        return parties
    lookups.records_created(created)
    return resolve_parties(headers, {**facts.matches, **created}, ambiguous, owner, address)


def _create_contacts(uow: UnitOfWork, addresses: Sequence[Address]) -> dict[str, list[RecordRef]]:
    created: dict[str, list[RecordRef]] = {}
    for address in addresses:
        contact = Contact(full_name=address.name or address.address, emails=(address.address,))
        created[address.address] = [
            RecordRef(RecordKind.CONTACT, uow.directory.add_contact(contact))
        ]
    return created
