"""Stage 3, gather the facts: everything the tracking rules need about one email — its
mailbox, owner and folder rule, the CRM records its addresses belong to, who tracked it
before, and which tracked email it answers (``correlate`` in the domain: the option "Email
messages in response to email" needs it before deciding).

What storage knows is read once for a whole batch (``BatchLookups``); what every email of a
mailbox shares, once per mailbox and batch (``MailboxContext``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tidings.domain.correlation import correlate
from tidings.domain.errors import NotFoundError
from tidings.domain.folders import FolderTrackingRule, is_inbox
from tidings.domain.mailbox import Mailbox
from tidings.domain.message import HeaderSummary, email_identity
from tidings.domain.people import SecurityRole, User, privileges_of
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.settings import EmailConfiguration
from tidings.domain.stored import StoredRaw
from tidings.domain.tracking import Owner, TrackingFacts
from tidings.services.ports import UnitOfWork
from tidings.services.tracking.batch_lookups import BatchLookups
from tidings.services.tracking.read_headers import headers_of
from tidings.services.tracking.results import Pending


@dataclass(frozen=True)
class MailboxContext:
    """What every email of one mailbox shares, read once per batch."""

    config: EmailConfiguration
    mailbox: Mailbox
    owner: Owner
    folder_rules: dict[str, FolderTrackingRule]


@dataclass
class BatchFacts:
    """What gathering the facts of one batch shares: its transaction, lookups, mailboxes."""

    uow: UnitOfWork
    lookups: BatchLookups
    contexts: dict[int, MailboxContext] = field(default_factory=dict)

    @classmethod
    def read(cls, uow: UnitOfWork, pending: list[Pending]) -> BatchFacts:
        """Ask storage once for what every email of the batch will need."""
        config = uow.settings.get()
        lookups = BatchLookups(
            uow,
            [item.headers for item in pending if item.headers is not None],
            [identity_of(item.stored) for item in pending],
            config.tracking_token,
        )
        # A batch of pushed email spans many mailboxes: their contexts in a few queries,
        # not a handful each.
        mailbox_ids = [item.stored.origin.mailbox_id for item in pending]
        return cls(uow, lookups, load_contexts(uow, config, mailbox_ids))

    def context(self, mailbox_id: int) -> MailboxContext:
        """The shared context of a mailbox, read at its first email in the batch (a mailbox
        or owner found missing is looked for again, and its emails fail one by one)."""
        if mailbox_id not in self.contexts:
            self.contexts[mailbox_id] = load_context(self.uow, mailbox_id)
        return self.contexts[mailbox_id]

    def of(self, item: Pending) -> TrackingFacts:
        """The facts of one email of the batch."""
        stored = item.stored
        return gather_facts(
            self.lookups, self.context(stored.origin.mailbox_id), stored, headers_of(item)
        )


def identity_of(stored: StoredRaw) -> str:
    """What makes two copies of an email the same email."""
    return email_identity(stored.message_id, stored.content_hash)


def load_context(uow: UnitOfWork, mailbox_id: int) -> MailboxContext:
    """The settings, mailbox, owner and folder rules that decide one mailbox's email."""
    mailbox = uow.mailboxes.get(mailbox_id)
    if mailbox is None:
        raise NotFoundError(f"no mailbox with id {mailbox_id}")
    rules = {rule.folder: rule for rule in uow.mailboxes.folder_rules(mailbox_id)}
    return MailboxContext(uow.settings.get(), mailbox, load_owner(uow, mailbox.owner), rules)


def load_contexts(
    uow: UnitOfWork, config: EmailConfiguration, mailbox_ids: list[int]
) -> dict[int, MailboxContext]:
    """``load_context`` of many mailboxes at once: those whose mailbox and owner exist."""
    mailboxes = uow.mailboxes.get_many(mailbox_ids, with_alerts=False)
    if not mailboxes:
        return {}
    rules = uow.mailboxes.folder_rules_of(list(mailboxes))
    roles = uow.directory.roles()
    users = uow.directory.get_users(
        [m.owner.id for m in mailboxes.values() if m.owner.kind is RecordKind.USER]
    )
    contexts: dict[int, MailboxContext] = {}
    for mailbox_id, mailbox in mailboxes.items():
        if mailbox.owner.kind is RecordKind.USER:
            user = users.get(mailbox.owner.id)
            if user is None:
                continue
            owner = _user_owner(mailbox.owner, user, roles)
        else:  # a queue's mailbox: few, read one by one
            try:
                owner = load_owner(uow, mailbox.owner)
            except NotFoundError:
                continue  # its emails fail one by one, as the batch goes on
        folder_rules = {rule.folder: rule for rule in rules.get(mailbox_id, [])}
        contexts[mailbox_id] = MailboxContext(config, mailbox, owner, folder_rules)
    return contexts


def load_owner(uow: UnitOfWork, ref: RecordRef) -> Owner:
    """The mailbox owner with the privileges of its roles."""
    roles = uow.directory.roles()
    if ref.kind is RecordKind.USER:
        user = uow.directory.get_user(ref.id)
        if user is None:
            raise NotFoundError(f"the mailbox owner {ref} does not exist")
        return _user_owner(ref, user, roles)
    queue = uow.directory.get_queue(ref.id)
    if queue is None:
        raise NotFoundError(f"the mailbox owner {ref} does not exist")
    return Owner(ref, queue.name, privileges_of(queue.role_ids, roles), queue.options)


def _user_owner(ref: RecordRef, user: User, roles: dict[int, SecurityRole]) -> Owner:
    privileges = privileges_of(user.role_ids, roles)
    return Owner(ref, user.full_name, privileges, user.options, user.is_active)


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
