"""A folder that stops being tracked (its rule removed, or folder-level tracking turned off)
leaves the mailbox's sync state, alerts and backoff at once: the mailbox's state is made only
of the folders it tracks. Its cursor stays, for sync to go on should it be tracked again."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.builders import Org
from tidings.domain.folders import INBOX
from tidings.domain.mailbox import Alert, AlertLevel
from tidings.domain.people import Caller, Privilege
from tidings.domain.sync import FolderCursor, FolderSyncState, SyncMode, WorkerBeat
from tidings.services.personal_options import FolderRuleInput

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
FAILING = "Projects/Contoso"


def _operator(org: Org) -> Caller:
    return Caller(next(iter(org.users.values())), frozenset(Privilege))


def _failing_folder_beside_a_healthy_inbox(org: Org) -> int:
    """dana's Inbox idle and caught up; a tracked folder backing off with an alert."""
    mailbox_id = org.mailboxes["dana"]
    org.tidings.personal_options.add_folder_rule(
        _operator(org), mailbox_id, FolderRuleInput(FAILING)
    )
    with org.tidings.uow() as uow:
        now = org.tidings.clock.now()
        uow.sync.beat(WorkerBeat("worker", "localhost", 1, now, now))
        uow.sync.save_state(FolderSyncState(mailbox_id, INBOX, SyncMode.IDLE, NOW, NOW))
        uow.sync.save_state(
            FolderSyncState(
                mailbox_id, FAILING, SyncMode.BACKING_OFF, NOW, backlog=40,
                last_error="NO [NONEXISTENT] Unknown Mailbox",
            )
        )  # fmt: skip
        uow.cursors.save(FolderCursor(mailbox_id, FAILING, 7, last_uid=12), NOW)
        uow.mailboxes.add_alert(
            mailbox_id, Alert(AlertLevel.ERROR, "Unknown Mailbox", NOW, folder=FAILING)
        )
        uow.mailboxes.add_alert(mailbox_id, Alert(AlertLevel.WARNING, "about the mailbox", NOW))
        uow.commit()
    sync = org.tidings.queries.mailbox_sync_state(mailbox_id)
    assert sync is not None and sync.mode is SyncMode.BACKING_OFF and sync.backlog == 40
    return mailbox_id


def _alerts(org: Org, mailbox_id: int) -> list[str]:
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(mailbox_id)
        assert mailbox is not None
        return [a.text for a in mailbox.alerts]


def _stored_folders(org: Org, mailbox_id: int) -> set[str]:
    with org.tidings.uow() as uow:
        return {s.folder for s in uow.sync.states() if s.mailbox_id == mailbox_id}


def _cursor_kept(org: Org, mailbox_id: int) -> bool:
    with org.tidings.uow() as uow:
        return uow.cursors.get(mailbox_id, FAILING) is not None


def test_removing_a_folder_rule_clears_its_state_and_alerts_at_once(org: Org) -> None:
    mailbox_id = _failing_folder_beside_a_healthy_inbox(org)
    org.tidings.personal_options.remove_folder_rule(_operator(org), mailbox_id, FAILING)
    sync = org.tidings.queries.mailbox_sync_state(mailbox_id)
    assert sync is not None
    assert sync.mode is SyncMode.IDLE
    assert sync.backlog == 0
    assert [f.folder for f in sync.folders] == [INBOX]
    assert _stored_folders(org, mailbox_id) == {INBOX}
    assert _alerts(org, mailbox_id) == ["about the mailbox"]
    assert _cursor_kept(org, mailbox_id)


def test_turning_folder_tracking_off_clears_every_rule_folder(org: Org) -> None:
    mailbox_id = _failing_folder_beside_a_healthy_inbox(org)
    org.tidings.email_settings.update(_operator(org), {"folder_level_tracking": False})
    sync = org.tidings.queries.sync_state()[mailbox_id]
    assert sync.mode is SyncMode.IDLE
    assert [f.folder for f in sync.folders] == [INBOX]
    assert _stored_folders(org, mailbox_id) == {INBOX}
    assert _alerts(org, mailbox_id) == ["about the mailbox"]
    assert _cursor_kept(org, mailbox_id)


def test_a_state_left_behind_by_a_worker_for_an_untracked_folder_is_not_counted(
    org: Org,
) -> None:
    # A worker that had not yet heard of the change may write once more after the clean-up.
    mailbox_id = _failing_folder_beside_a_healthy_inbox(org)
    org.tidings.personal_options.remove_folder_rule(_operator(org), mailbox_id, FAILING)
    with org.tidings.uow() as uow:
        late = FolderSyncState(mailbox_id, FAILING, SyncMode.BACKING_OFF, NOW, backlog=9)
        uow.sync.save_state(late)
        uow.commit()
    sync = org.tidings.queries.mailbox_sync_state(mailbox_id)
    assert sync is not None and sync.mode is SyncMode.IDLE and sync.backlog == 0
    # Tracked again, its state counts again.
    org.tidings.personal_options.add_folder_rule(
        _operator(org), mailbox_id, FolderRuleInput(FAILING)
    )
    with org.tidings.uow() as uow:
        uow.sync.save_state(late)
        uow.commit()
    again = org.tidings.queries.mailbox_sync_state(mailbox_id)
    assert again is not None and again.mode is SyncMode.BACKING_OFF


def test_unticking_a_folder_in_the_picker_clears_its_state_and_alerts_at_once(
    org: Org,
) -> None:
    # The folder picker saves the ticked folders as a whole; the one left out is untracked.
    mailbox_id = _failing_folder_beside_a_healthy_inbox(org)
    org.tidings.personal_options.replace_folder_rules(
        _operator(org), mailbox_id, [FolderRuleInput("Archive")]
    )
    sync = org.tidings.queries.mailbox_sync_state(mailbox_id)
    assert sync is not None and sync.mode is SyncMode.IDLE and sync.backlog == 0
    assert [f.folder for f in sync.folders] == [INBOX]
    assert _stored_folders(org, mailbox_id) == {INBOX}
    assert _alerts(org, mailbox_id) == ["about the mailbox"]
    assert _cursor_kept(org, mailbox_id)
