"""Folders that stop being tracked leave at once everything sync kept about them.

A folder-level tracking rule removed, or folder-level tracking turned off, ends the folder's
sync; its recorded state (mode, backlog, last error) and the alerts its sync raised would
otherwise go on counting in the mailbox's state until someone cleared them by hand. Its
cursor stays: should the folder be tracked again, sync goes on from where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tidings.domain.folders import INBOX
from tidings.domain.settings import EmailConfiguration
from tidings.services.ports import UnitOfWork


def tracked_folders(
    config: EmailConfiguration, rules: Mapping[int, Iterable[str]], mailbox_id: int
) -> frozenset[str]:
    """The folders sync follows for a mailbox: its Inbox, and its rules' folders while
    folder-level tracking is on (``SyncTargets`` reads them the same way)."""
    extra = rules.get(mailbox_id, ()) if config.folder_level_tracking else ()
    return frozenset({INBOX, *extra})


def forget_folders(uow: UnitOfWork, mailbox_id: int, folders: Iterable[str]) -> None:
    """Drop the sync state and the alerts of ``folders`` of a mailbox (never its Inbox's:
    the Inbox is always tracked)."""
    for folder in folders:
        if folder == INBOX:
            continue
        uow.sync.forget_state(mailbox_id, folder)
        uow.mailboxes.remove_folder_alerts(mailbox_id, folder)


def forget_all_rule_folders(uow: UnitOfWork) -> None:
    """Folder-level tracking was turned off: every rule's folder is untracked."""
    for mailbox_id, folders in uow.sync.tracked_folders().items():
        forget_folders(uow, mailbox_id, folders)
