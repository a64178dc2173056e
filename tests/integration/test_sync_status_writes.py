"""The sync status board's writes on both databases: folders that commit their cursors at
the same moment share a transaction, and one folder's fault fails that folder alone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from tests.builders import Org, make_email, statements_run
from tests.waiting import WAITED, answered_at_once
from tidings.domain.message import MessageOrigin
from tidings.domain.sync import FolderCursor, FolderSyncState, SyncMode
from tidings.services.category_tracking import CategoryTracking
from tidings.services.ports import UnitOfWork
from tidings.services.sync.status import SyncStatusBoard

FOLDERS = [f"Folder {n}" for n in range(12)]


class CountingCommits:
    """A unit-of-work factory that counts the transactions it commits."""

    def __init__(self, factory: Callable[[], UnitOfWork]) -> None:
        self._factory = factory
        self.commits = 0

    def __call__(self) -> UnitOfWork:
        uow = self._factory()
        commit = uow.commit

        def counted() -> None:
            commit()
            self.commits += 1

        uow.commit = counted  # type: ignore[method-assign]
        return uow


def _stored(org: Org, mailbox_id: int, folder: str) -> FolderCursor | None:
    with org.tidings.uow() as uow:
        return uow.cursors.get(mailbox_id, folder)


def test_folders_committing_at_once_share_a_transaction_and_each_is_stored(org: Org) -> None:
    mailbox_id = org.mailboxes["dana"]
    uows = CountingCommits(org.tidings.uow)
    board = SyncStatusBoard(uows, org.tidings.clock)

    async def each_folder_saves() -> None:
        for n, folder in enumerate(FOLDERS):
            board.change((mailbox_id, folder), mode=SyncMode.IDLE, backlog=n)
        await asyncio.gather(
            *(
                board.save_cursor(FolderCursor(mailbox_id, folder, 7, last_uid=10 + n))
                for n, folder in enumerate(FOLDERS)
            )
        )

    asyncio.run(each_folder_saves())
    assert 1 <= uows.commits < len(FOLDERS)
    for n, folder in enumerate(FOLDERS):
        stored = _stored(org, mailbox_id, folder)
        assert stored is not None and (stored.uidvalidity, stored.last_uid) == (7, 10 + n)
        assert board.stored_cursor((mailbox_id, folder)) == FolderCursor(
            mailbox_id, folder, 7, last_uid=10 + n
        )
    with org.tidings.uow() as uow:
        states = {s.folder: s for s in uow.sync.states() if s.mailbox_id == mailbox_id}
    assert {folder: states[folder].backlog for folder in FOLDERS} == {
        folder: n for n, folder in enumerate(FOLDERS)
    }
    # Saved again, the cursor is written over, not added beside.
    asyncio.run(board.save_cursor(FolderCursor(mailbox_id, FOLDERS[0], 7, last_uid=99)))
    again = _stored(org, mailbox_id, FOLDERS[0])
    assert again is not None and again.last_uid == 99


def test_a_folder_whose_write_fails_fails_alone(org: Org) -> None:
    mailbox_id = org.mailboxes["dana"]
    gone = mailbox_id + 1000  # no such mailbox: its cursor breaks the foreign key
    board = SyncStatusBoard(org.tidings.uow, org.tidings.clock)

    async def saves() -> list[BaseException | None]:
        for folder in FOLDERS:
            board.change((mailbox_id, folder), mode=SyncMode.IDLE)
        board.change((gone, "INBOX"), mode=SyncMode.IDLE)
        cursors = [FolderCursor(mailbox_id, folder, 7, last_uid=5) for folder in FOLDERS]
        cursors.insert(3, FolderCursor(gone, "INBOX", 7, last_uid=5))
        return await asyncio.gather(
            *(board.save_cursor(c) for c in cursors), return_exceptions=True
        )

    outcomes = asyncio.run(saves())
    failed = [o for o in outcomes if o is not None]
    assert len(failed) == 1 and outcomes[3] is failed[0]
    assert all(_stored(org, mailbox_id, folder) is not None for folder in FOLDERS)
    # What the board knows of the failed folder's cursor is read from storage again.
    assert board.stored_cursor((gone, "INBOX")) is None


def test_a_folder_task_cancelled_while_its_cursor_commits_leaves_the_cursor_to_go_in(
    org: Org,
) -> None:
    mailbox_id = org.mailboxes["dana"]
    board = SyncStatusBoard(org.tidings.uow, org.tidings.clock)

    async def cancelled_save() -> None:
        board.change((mailbox_id, "INBOX"), mode=SyncMode.IDLE)
        saving = asyncio.ensure_future(
            board.save_cursor(FolderCursor(mailbox_id, "INBOX", 7, last_uid=42))
        )
        await asyncio.sleep(0)
        saving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await saving
        # The write still commits: the next save waits behind it.
        await board.save_cursor(FolderCursor(mailbox_id, "Other", 7, last_uid=1))

    asyncio.run(cancelled_save())
    stored = _stored(org, mailbox_id, "INBOX")
    assert stored is not None and stored.last_uid == 42


def _position(cursor: object) -> tuple[int, int]:
    assert isinstance(cursor, FolderCursor)
    return cursor.uidvalidity, cursor.last_uid


def test_a_cursor_the_board_knows_is_answered_without_waiting_and_one_it_does_not_is_read(
    org: Org,
) -> None:
    mailbox_id = org.mailboxes["dana"]
    board = SyncStatusBoard(org.tidings.uow, org.tidings.clock)
    writer = SyncStatusBoard(org.tidings.uow, org.tidings.clock)
    inbox, archive = (mailbox_id, "INBOX"), (mailbox_id, "Archive")

    async def scenario() -> None:
        await writer.save_cursor(FolderCursor(mailbox_id, "INBOX", 7, last_uid=12))
        # Unknown to this board: read from storage, in a thread.
        assert answered_at_once(board.cursor(inbox)) is WAITED
        assert _position(await board.cursor(inbox)) == (7, 12)
        assert await board.cursor(archive) is None
        # Known now, a cursor and the lack of one alike: answered without a wait.
        assert _position(answered_at_once(board.cursor(inbox))) == (7, 12)
        assert answered_at_once(board.cursor(archive)) is None
        # Forgotten (the folder may have been synced elsewhere meanwhile), it is read again.
        await writer.save_cursor(FolderCursor(mailbox_id, "INBOX", 7, last_uid=30))
        board.reread_cursor(inbox)
        assert _position(await board.cursor(inbox)) == (7, 30)

    asyncio.run(scenario())


def test_a_cursor_moving_without_news_of_its_folder_leaves_the_stored_state_as_it_was(
    org: Org,
) -> None:
    # A pushed email's round moves the cursor twice and the state not at all: readers have
    # the state already, and writing it again would cost every round a statement.
    mailbox_id = org.mailboxes["dana"]
    board = SyncStatusBoard(org.tidings.uow, org.tidings.clock)
    key = (mailbox_id, "INBOX")

    def stored_state() -> FolderSyncState:
        with org.tidings.uow() as uow:
            return next(s for s in uow.sync.states() if (s.mailbox_id, s.folder) == key)

    async def scenario() -> None:
        board.change(key, mode=SyncMode.IDLE, backlog=0)
        await board.save_cursor(FolderCursor(mailbox_id, "INBOX", 7, last_uid=1))
        first = stored_state()
        board.change(key, mode=SyncMode.IDLE, backlog=0)
        await board.save_cursor(FolderCursor(mailbox_id, "INBOX", 7, last_uid=2))
        assert stored_state().updated_at == first.updated_at
        assert _position(_stored(org, mailbox_id, "INBOX")) == (7, 2)
        # News for readers (a backlog) goes with the cursor, in its transaction.
        board.change(key, mode=SyncMode.CATCHING_UP, backlog=3)
        await board.save_cursor(FolderCursor(mailbox_id, "INBOX", 7, last_uid=3))
        changed = stored_state()
        assert (changed.mode, changed.backlog) == (SyncMode.CATCHING_UP, 3)
        assert changed.updated_at > first.updated_at

    asyncio.run(scenario())


def test_what_a_round_wrote_on_is_recorded_with_its_cursor_or_not_at_all(org: Org) -> None:
    # A flag round records the category it wrote with the MODSEQ it read up to: both or
    # neither, so that a round that failed to record is read again from where it began.
    mailbox_id = org.mailboxes["dana"]
    [kept] = org.tidings.ingest.ingest_batch(
        [(make_email(message_id="<w@c.example>"), MessageOrigin(mailbox_id, "INBOX", 7, "1"))]
    )
    categories = CategoryTracking(org.tidings.uow, org.tidings.clock)
    board = SyncStatusBoard(
        org.tidings.uow, org.tidings.clock, record_written=categories.record_written_in
    )

    async def scenario() -> None:
        moved = FolderCursor(mailbox_id, "INBOX", 7, last_uid=1, highest_modseq=40)
        with pytest.raises(Exception, match=r"(?i)foreign key"):
            await board.save_cursor(moved, written=[(kept.raw_message_id + 1000, False)])
        assert _stored(org, mailbox_id, "INBOX") is None
        await board.save_cursor(moved, written=[(kept.raw_message_id, False)])
        stored = _stored(org, mailbox_id, "INBOX")
        assert stored is not None and stored.highest_modseq == 40

    asyncio.run(scenario())
    with org.tidings.uow() as uow:
        mark = uow.category_marks.marks([kept.raw_message_id])[kept.raw_message_id]
    assert (mark.present, mark.seen) == (True, False) and mark.written_at is not None


def test_what_folders_wrote_on_at_once_is_recorded_in_one_statement(org: Org) -> None:
    # A thousand pushed folders each write the category on their new email: their marks go
    # in one statement of the transaction that moves their cursors, not one each.
    mailbox_id = org.mailboxes["dana"]
    kept = org.tidings.ingest.ingest_batch(
        [
            (make_email(message_id=f"<f{n}@c.example>"), MessageOrigin(mailbox_id, f, 7, "1"))
            for n, f in enumerate(FOLDERS)
        ]
    )
    categories = CategoryTracking(org.tidings.uow, org.tidings.clock)
    board = SyncStatusBoard(
        org.tidings.uow, org.tidings.clock, record_written=categories.record_written_in
    )

    async def each_folder_records() -> None:
        await asyncio.gather(
            *(
                board.save_cursor(
                    FolderCursor(mailbox_id, f, 7, last_uid=1, highest_modseq=9),
                    written=[(result.raw_message_id, n % 2 == 0)],
                )
                for n, (f, result) in enumerate(zip(FOLDERS, kept, strict=True))
            )
        )

    with statements_run(org.tidings.engine, "INSERT INTO category_marks") as inserts:
        asyncio.run(each_folder_records())
    assert 1 <= len(inserts) < len(FOLDERS)
    with org.tidings.uow() as uow:
        marks = uow.category_marks.marks([r.raw_message_id for r in kept])
    assert [marks[r.raw_message_id].seen for r in kept] == [n % 2 == 0 for n in range(len(FOLDERS))]
    assert all(marks[r.raw_message_id].present for r in kept)
