"""The named rules that decide whether an email is tracked, each giving its reason.

Rules run in the order of ``RULES``; all of them run, so an explanation lists every reason,
not just the first. Each is a small function of ``TrackingFacts`` with a stable name that
stored decisions refer to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tidings.domain.activity import CorrelationMethod
from tidings.domain.automated import automated_mark, suppress_note
from tidings.domain.folders import is_inbox
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, Privilege, TrackIncoming
from tidings.domain.records import CUSTOMER_KINDS, EMAIL_ENABLED_KINDS, RecordKind
from tidings.domain.settings import EmailProcessing
from tidings.domain.tracked_category import MARKED_RULE
from tidings.domain.tracking import Reason, TrackingDecision, TrackingFacts, Verdict


@dataclass(frozen=True)
class Rule:
    """A named check with a one-line description for the console."""

    name: str
    description: str
    check: Callable[[TrackingFacts], tuple[Verdict, str]]

    def __call__(self, facts: TrackingFacts) -> Reason:
        verdict, text = self.check(facts)
        return Reason(self.name, verdict, text)


def _email_processing(facts: TrackingFacts) -> tuple[Verdict, str]:
    if facts.config.processing is EmailProcessing.SERVER_SIDE_SYNC:
        return Verdict.PASS, "the organization processes email using server-side synchronization"
    return Verdict.FAIL, "the organization's email configuration settings turn processing off"


def _mailbox_approved(facts: TrackingFacts) -> tuple[Verdict, str]:
    mailbox = facts.mailbox
    if not facts.config.process_only_approved_mailboxes:
        return Verdict.NOT_APPLICABLE, "the organization processes email of unapproved mailboxes"
    if mailbox.is_approved:
        return Verdict.PASS, f"the address {mailbox.address} is approved"
    return Verdict.FAIL, f"the address {mailbox.address} is not approved: run Approve Email"


def _mailbox_enabled(facts: TrackingFacts) -> tuple[Verdict, str]:
    mailbox = facts.mailbox
    if mailbox.syncs_incoming:
        return Verdict.PASS, "the mailbox is enabled for incoming server-side synchronization"
    if not mailbox.enabled:
        return Verdict.FAIL, "the mailbox is not enabled: run Test & Enable"
    return Verdict.FAIL, "the mailbox's incoming email sync method is none"


def _tracking_role(facts: TrackingFacts) -> tuple[Verdict, str]:
    owner = facts.owner
    if owner.ref.kind is RecordKind.QUEUE:
        return Verdict.NOT_APPLICABLE, f"queue {owner.name} tracks by its own options"
    if not owner.is_active:
        return Verdict.FAIL, f"user {owner.name} is disabled"
    if Privilege.TRACK_EMAIL in owner.privileges:
        return Verdict.PASS, f"user {owner.name} holds the tracking role"
    return Verdict.FAIL, f"user {owner.name}: {NOT_AUTHORIZED_TO_TRACK} (no tracking role)"


def _folder_tracked(facts: TrackingFacts) -> tuple[Verdict, str]:
    if is_inbox(facts.folder):
        return Verdict.PASS, "the Inbox is always tracked"
    if facts.folder_rule is None:
        return Verdict.FAIL, f"folder {facts.folder!r} has no folder-level tracking rule"
    if not facts.config.folder_level_tracking:
        return Verdict.FAIL, "folder-level tracking is turned off for the organization"
    return Verdict.PASS, f"folder {facts.folder!r} is tracked by a folder-level rule"


def _automated_email(facts: TrackingFacts) -> tuple[Verdict, str]:
    if facts.marked:
        return Verdict.NOT_APPLICABLE, "the owner chose to track it"
    mark = automated_mark(facts.headers)
    note = suppress_note(facts.headers)
    if mark is None:
        text = "written by a person: no header marks it as an automatic reply, bounce or receipt"
        if note:
            text += f" ({note} only asks for no automatic answers)"
        return Verdict.PASS, text
    text = mark.describe() + (f", and {note} agrees" if note else "")
    if not facts.config.skip_automated_email:
        return Verdict.NOT_APPLICABLE, f"{text}; the organization tracks automated email"
    return Verdict.FAIL, f"{text} is not tracked"


def _already_tracked(facts: TrackingFacts) -> tuple[Verdict, str]:
    tracked_for = facts.tracked_for
    if not tracked_for:
        return Verdict.PASS, "no activity exists for this email yet"
    if facts.owner.ref in tracked_for:
        return Verdict.FAIL, "already tracked for this owner"
    between_users = (
        facts.owner.ref.kind is RecordKind.USER and RecordKind.USER in facts.sender_kinds
    )
    if facts.config.track_between_users_as_two_activities and between_users:
        return Verdict.PASS, "sent between users: the organization tracks it once for each"
    return Verdict.FAIL, "already tracked from another mailbox"


def _track_incoming_option(facts: TrackingFacts) -> tuple[Verdict, str]:
    if facts.marked:
        return Verdict.NOT_APPLICABLE, "the owner marked it, whatever Track incoming email says"
    if facts.folder_rule is not None and not is_inbox(facts.folder):
        return Verdict.NOT_APPLICABLE, "a folder-level rule tracks every email in its folder"
    option = facts.owner.options.track_incoming
    label = f"the owner's option is '{option.label}'"
    # For email the owner sent, the people it went to stand where the sender would.
    kinds = facts.recipient_kinds if facts.is_outgoing else facts.sender_kinds
    who = "a recipient" if facts.is_outgoing else "the sender"
    if option is TrackIncoming.ALL:
        return Verdict.PASS, label
    if option is TrackIncoming.NONE:
        return Verdict.FAIL, label
    if option is TrackIncoming.IN_RESPONSE:
        method = facts.correlation.method
        if method is not CorrelationMethod.NONE:
            return Verdict.PASS, f"{label}; it answers tracked email (matched by {method})"
        return Verdict.FAIL, f"{label}; it answers no tracked email"
    wanted = CUSTOMER_KINDS if option is TrackIncoming.FROM_CUSTOMERS else EMAIL_ENABLED_KINDS
    matched = [_with_article(k.value) for k in sorted(kinds & wanted)]
    if matched:
        return Verdict.PASS, f"{label}; {who} is {' and '.join(matched)} in the CRM"
    return Verdict.FAIL, f"{label}; {who} is no such record in the CRM"


def _marked_with_category(facts: TrackingFacts) -> tuple[Verdict, str]:
    category = facts.config.tracked_category
    if facts.marked:
        return Verdict.PASS, f"tracked because you marked it with the category {category!r}"
    return Verdict.NOT_APPLICABLE, f"not marked with the category {category!r}"


def _with_article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeio" else f"a {noun}"  # "a user", "an account"


RULES: tuple[Rule, ...] = (
    Rule("email_processing", "The organization processes email", _email_processing),
    Rule("mailbox_approved", "The mailbox's address is approved", _mailbox_approved),
    Rule("mailbox_enabled", "The mailbox passed Test & Enable", _mailbox_enabled),
    Rule("tracking_role", "The owner holds the tracking role", _tracking_role),
    Rule("folder_tracked", "The folder is the Inbox or has a rule", _folder_tracked),
    Rule("automated_email", "Not an automatic reply, bounce or receipt", _automated_email),
    Rule("already_tracked", "Not already tracked", _already_tracked),
    Rule("track_incoming_option", "The owner's Track incoming email", _track_incoming_option),
    Rule(MARKED_RULE, "The owner marked it with the tracked category", _marked_with_category),
)


def decide(facts: TrackingFacts) -> TrackingDecision:
    """Run every rule; the email is tracked if none fails."""
    return TrackingDecision(tuple(rule(facts) for rule in RULES))
