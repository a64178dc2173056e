"""One database transaction over every repository; it rolls back unless committed."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Self

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from tidings.adapters.storage.access_repository import SqlAccessRepository
from tidings.adapters.storage.activity_repository import SqlActivityRepository
from tidings.adapters.storage.admin_grids import SqlProfileGrid, SqlUserGrid
from tidings.adapters.storage.category_repository import SqlCategoryMarkRepository
from tidings.adapters.storage.compose_repository import SqlComposeRepository
from tidings.adapters.storage.credential_repository import SqlCredentialRepository
from tidings.adapters.storage.cursor_repository import SqlCursorRepository
from tidings.adapters.storage.directory_repository import SqlDirectoryRepository
from tidings.adapters.storage.mail_repository import (
    SqlDecisionRepository,
    SqlParkedRepository,
    SqlRawMessageRepository,
)
from tidings.adapters.storage.mailbox_grid import SqlMailboxGrid
from tidings.adapters.storage.outbox_repository import SqlOutboxRepository
from tidings.adapters.storage.presence_repository import SqlFolderPresenceRepository
from tidings.adapters.storage.record_repository import SqlRecordRepository
from tidings.adapters.storage.saved_view_repository import SqlSavedViewRepository
from tidings.adapters.storage.settings_repository import (
    SqlMailboxRepository,
    SqlServerProfileRepository,
    SqlSettingsRepository,
)
from tidings.adapters.storage.sync_repository import SqlSyncRepository
from tidings.adapters.storage.track_when_sent_repository import SqlTrackWhenSentRepository
from tidings.adapters.storage.webhook_repository import SqlEventOutbox, SqlWebhookRepository
from tidings.adapters.task_queue.deferral import TransactionalJobs
from tidings.domain.errors import StorageError

#: The execution option that marks a connection's transactions as reading alone.
READ_ONLY = "tidings_read_only"

#: Each repository of a unit of work, by the attribute it is reached by.
_REPOSITORIES: dict[str, Callable[[Connection], object]] = {
    "raw_messages": SqlRawMessageRepository,
    "decisions": SqlDecisionRepository,
    "parked": SqlParkedRepository,
    "activities": SqlActivityRepository,
    "settings": SqlSettingsRepository,
    "server_profiles": SqlServerProfileRepository,
    "mailboxes": SqlMailboxRepository,
    "mailbox_grid": SqlMailboxGrid,
    "profile_grid": SqlProfileGrid,
    "user_grid": SqlUserGrid,
    "saved_views": SqlSavedViewRepository,
    "directory": SqlDirectoryRepository,
    "credentials": SqlCredentialRepository,
    "cursors": SqlCursorRepository,
    "outbox": SqlOutboxRepository,
    "access": SqlAccessRepository,
    "sync": SqlSyncRepository,
    "records": SqlRecordRepository,
    "events": SqlEventOutbox,
    "webhooks": SqlWebhookRepository,
    "compose": SqlComposeRepository,
    "track_when_sent": SqlTrackWhenSentRepository,
    "category_marks": SqlCategoryMarkRepository,
    "presence": SqlFolderPresenceRepository,
    "jobs": TransactionalJobs,
}


class SqlAlchemyUnitOfWork:
    """``with uow: ...; uow.commit()`` — leaving the block without commit rolls back."""

    raw_messages: SqlRawMessageRepository
    decisions: SqlDecisionRepository
    parked: SqlParkedRepository
    activities: SqlActivityRepository
    settings: SqlSettingsRepository
    server_profiles: SqlServerProfileRepository
    mailboxes: SqlMailboxRepository
    mailbox_grid: SqlMailboxGrid
    profile_grid: SqlProfileGrid
    user_grid: SqlUserGrid
    saved_views: SqlSavedViewRepository
    directory: SqlDirectoryRepository
    credentials: SqlCredentialRepository
    cursors: SqlCursorRepository
    outbox: SqlOutboxRepository
    access: SqlAccessRepository
    sync: SqlSyncRepository
    records: SqlRecordRepository
    events: SqlEventOutbox
    webhooks: SqlWebhookRepository
    compose: SqlComposeRepository
    track_when_sent: SqlTrackWhenSentRepository
    category_marks: SqlCategoryMarkRepository
    presence: SqlFolderPresenceRepository
    jobs: TransactionalJobs

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        """``read_only``: for reading alone, never committed. On SQLite it begins deferred
        rather than taking the write lock, so a read never waits behind another unit's
        writes (WAL: readers see the last commit); a unit that may write must not be one."""
        self._engine = engine
        self._read_only = read_only
        self._connection: Connection | None = None

    def __enter__(self) -> Self:
        try:
            connection = self._engine.connect()
            if self._read_only:
                options: dict[str, object] = {READ_ONLY: True}
                if connection.dialect.name == "postgresql":
                    # At READ COMMITTED each statement reads a snapshot of its own, in a
                    # transaction or not: a read needs neither BEGIN nor ROLLBACK, two of
                    # the three round trips of a unit that reads once.
                    options["isolation_level"] = "AUTOCOMMIT"
                connection.execution_options(**options)
            connection.begin()
        except SQLAlchemyError as error:
            raise StorageError(f"cannot open the database: {error}") from error
        self._connection = connection
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._connection
        self._connection = None
        for name in _REPOSITORIES:  # bound to this connection: made again for the next
            self.__dict__.pop(name, None)
        if connection is None:
            return
        try:
            if connection.in_transaction():
                connection.rollback()
        finally:
            connection.close()

    if not TYPE_CHECKING:  # the attributes declared above are what type checkers see

        def __getattr__(self, name: str) -> object:
            # Repositories are made as a unit of work first asks for each: most use two or
            # three of the twenty-five, and a worker opens hundreds of units a second.
            factory = _REPOSITORIES.get(name)
            if factory is None or self._connection is None:
                raise AttributeError(name)
            repository = factory(self._connection)
            setattr(self, name, repository)
            return repository

    def savepoint(self) -> AbstractContextManager[object]:
        """A SAVEPOINT: released on success, rolled back alone on an exception."""
        assert self._connection is not None, "savepoint outside 'with uow:'"  # noqa: S101
        return self._connection.begin_nested()

    def commit(self) -> None:
        if self._read_only:
            raise StorageError("a read-only unit of work cannot commit")
        # The next transaction begins with the next statement, if any (SQLAlchemy's
        # autobegin): most units of work end at their commit, and beginning one at once
        # would cost each a BEGIN, on SQLite the write lock, only to roll it back.
        assert self._connection is not None, "commit outside 'with uow:'"  # noqa: S101
        self._connection.commit()

    def rollback(self) -> None:
        assert self._connection is not None, "rollback outside 'with uow:'"  # noqa: S101
        self._connection.rollback()
