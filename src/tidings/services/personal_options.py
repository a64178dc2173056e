"""Personal options and folder-level tracking rules: each user's own tracking choices.

A user may read and change their own; anyone else's need the privileges on user settings
(read_user_settings, write_user_settings) or on mailboxes (another owner's folder rules) at
an access level that reaches that user or mailbox; out of reach reads as not found.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tidings.domain.errors import FieldValueError, NotFoundError, ValidationError
from tidings.domain.folders import FolderTrackingRule, check_folder_rules
from tidings.domain.mailbox import Mailbox
from tidings.domain.people import Caller, PersonalOptions, Privilege, TrackIncoming
from tidings.domain.records import RecordKind, RecordRef, RecordSummary
from tidings.domain.server_profile import ServerProfileKind
from tidings.services.changes import check_text, read_bool
from tidings.services.people import require_user
from tidings.services.ports import UnitOfWork
from tidings.services.scope import require_owner_in_reach
from tidings.services.untracked_folders import forget_folders


@dataclass(frozen=True)
class FolderRuleInput:
    """One folder to track, optionally regarding a record."""

    folder: str
    regarding: RecordRef | None = None


@dataclass(frozen=True)
class FolderTracking:
    """What the folder picker shows of a mailbox besides the server's folders."""

    address: str
    rules: list[FolderTrackingRule]
    regarding_names: dict[RecordRef, RecordSummary]
    #: The organization's *folder-level tracking* setting: off, rules are kept but unused.
    enabled: bool


class PersonalOptionsService:
    """Reading and changing personal options and folder rules."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork]) -> None:
        self._uow = uow_factory

    def get_options(self, caller: Caller, user_id: int) -> PersonalOptions:
        with self._uow() as uow:
            _may_set(uow, caller, user_id, Privilege.READ_USER_SETTINGS)
            return require_user(uow, user_id).options

    def update_options(
        self,
        caller: Caller,
        user_id: int,
        *,
        track_incoming: TrackIncoming | str | None = None,
        create_contacts_for_unknown_senders: bool | str | None = None,
    ) -> PersonalOptions:
        """Change *Track incoming email* and whether unknown senders become contacts."""
        with self._uow() as uow:
            _may_set(uow, caller, user_id, Privilege.WRITE_USER_SETTINGS)
            user = require_user(uow, user_id)
            if track_incoming is not None:
                user.options.track_incoming = _track_incoming(track_incoming)
            if create_contacts_for_unknown_senders is not None:
                user.options.create_contacts_for_unknown_senders = read_bool(
                    "create_contacts_for_unknown_senders", create_contacts_for_unknown_senders
                )
            uow.directory.save_user(user)
            uow.commit()
            return user.options

    def folder_rules(self, caller: Caller, mailbox_id: int) -> list[FolderTrackingRule]:
        with self._uow() as uow:
            _reachable_mailbox(uow, caller, mailbox_id, Privilege.READ_MAILBOXES)
            return uow.mailboxes.folder_rules(mailbox_id)

    def folder_tracking(self, caller: Caller, mailbox_id: int) -> FolderTracking:
        """A mailbox's folder rules with the names of their regarding records."""
        with self._uow() as uow:
            mailbox = _reachable_mailbox(uow, caller, mailbox_id, Privilege.READ_MAILBOXES)
            rules = uow.mailboxes.folder_rules(mailbox_id)
            names = uow.directory.summaries({r.regarding for r in rules if r.regarding})
            on = uow.settings.get().folder_level_tracking
        return FolderTracking(mailbox.address, rules, names, on)

    def replace_folder_rules(
        self, caller: Caller, mailbox_id: int, rules: Sequence[FolderRuleInput]
    ) -> list[FolderTrackingRule]:
        """Track exactly these folders (at most 25, the Inbox never among them)."""
        with self._uow() as uow:
            _reachable_mailbox(uow, caller, mailbox_id, Privilege.WRITE_MAILBOXES)
            return self._save(uow, mailbox_id, [_rule(mailbox_id, r) for r in rules])

    def add_folder_rule(
        self, caller: Caller, mailbox_id: int, rule: FolderRuleInput
    ) -> list[FolderTrackingRule]:
        """Track one more folder, or change the regarding record of one already tracked."""
        with self._uow() as uow:
            _reachable_mailbox(uow, caller, mailbox_id, Privilege.WRITE_MAILBOXES)
            new = _rule(mailbox_id, rule)
            kept = [r for r in uow.mailboxes.folder_rules(mailbox_id) if r.folder != new.folder]
            return self._save(uow, mailbox_id, [*kept, new])

    def remove_folder_rule(
        self, caller: Caller, mailbox_id: int, folder: str
    ) -> list[FolderTrackingRule]:
        with self._uow() as uow:
            _reachable_mailbox(uow, caller, mailbox_id, Privilege.WRITE_MAILBOXES)
            rules = uow.mailboxes.folder_rules(mailbox_id)
            kept = [r for r in rules if r.folder != folder]
            if len(kept) == len(rules):
                raise NotFoundError(f"the folder {folder!r} has no tracking rule")
            return self._save(uow, mailbox_id, kept)

    def _save(
        self, uow: UnitOfWork, mailbox_id: int, rules: list[FolderTrackingRule]
    ) -> list[FolderTrackingRule]:
        check_folder_rules(rules)
        for rule in rules:
            if rule.regarding is not None and not uow.directory.exists(rule.regarding):
                raise NotFoundError(f"no {rule.regarding.kind.value} with id {rule.regarding.id}")
        before = {r.folder for r in uow.mailboxes.folder_rules(mailbox_id)}
        if {r.folder for r in rules} - before:
            _check_has_folders(uow, mailbox_id)
        uow.mailboxes.replace_folder_rules(mailbox_id, rules)
        forget_folders(uow, mailbox_id, before - {r.folder for r in rules})
        uow.commit()
        return uow.mailboxes.folder_rules(mailbox_id)


def _reachable_mailbox(
    uow: UnitOfWork, caller: Caller, mailbox_id: int, privilege: Privilege
) -> Mailbox:
    """A user manages their own mailbox's rules; others' need ``privilege`` at a level that
    reaches the mailbox. Without the privilege at all the refusal is the same whether the
    mailbox exists or not, so it tells nothing of other people's mailboxes."""
    mailbox = uow.mailboxes.get(mailbox_id)
    user_id = caller.user.id
    if (
        mailbox is not None
        and user_id is not None
        and mailbox.owner == RecordRef(RecordKind.USER, user_id)
    ):
        return mailbox
    scope = caller.scope(privilege)
    if mailbox is None or uow.mailboxes.get(mailbox_id, scope=scope) is None:
        raise NotFoundError(f"no mailbox with id {mailbox_id}")
    return mailbox


def _check_has_folders(uow: UnitOfWork, mailbox_id: int) -> None:
    """A POP3 mailbox has only its Inbox, which is always synced: a rule for another folder
    would be kept and never used. Rules chosen before (under another profile) may still be
    removed."""
    mailbox = uow.mailboxes.get(mailbox_id)
    profile_id = mailbox.profile_id if mailbox is not None else None
    profile = uow.server_profiles.get(profile_id) if profile_id is not None else None
    if profile is not None and profile.kind is ServerProfileKind.POP3_SMTP:
        problem = (
            "the mailbox is read over POP3, which has only the Inbox: "
            "there are no other folders to track"
        )
        raise FieldValueError({"folder": problem}, problem)


def _may_set(uow: UnitOfWork, caller: Caller, user_id: int, privilege: Privilege) -> None:
    """One's own personal options always; another user's need ``privilege`` at a level that
    reaches that user."""
    if user_id != caller.user.id:
        require_owner_in_reach(uow, caller.scope(privilege), RecordRef(RecordKind.USER, user_id))


def _rule(mailbox_id: int, given: FolderRuleInput) -> FolderTrackingRule:
    folder = check_text("folder", given.folder, 200).strip()
    return FolderTrackingRule(mailbox_id, folder, given.regarding)


def _track_incoming(value: TrackIncoming | str) -> TrackIncoming:
    try:
        return TrackIncoming(value)
    except ValueError:
        names = ", ".join(t.value for t in TrackIncoming)
        raise ValidationError(f"track incoming: {value!r} is not one of {names}") from None
