"""Units of work that only read: on SQLite they never wait for the write lock."""

from __future__ import annotations

import pytest

from tidings.adapters.storage.database import make_engine
from tidings.adapters.storage.unit_of_work import SqlAlchemyUnitOfWork
from tidings.domain.errors import StorageError
from tidings.domain.settings import EmailConfiguration


def test_a_read_on_sqlite_goes_on_while_another_unit_holds_the_write_lock(
    sqlite_url: str,
) -> None:
    # A writer's transaction takes SQLite's write lock from its start (BEGIN IMMEDIATE); a
    # unit that only reads sees the last commit at once instead of queueing behind it (it
    # would wait out the 30 s busy timeout here, and fail).
    engine = make_engine(sqlite_url)
    try:
        with SqlAlchemyUnitOfWork(engine) as first:
            first.settings.save(EmailConfiguration(smart_matching_min_recipients=7))
            first.commit()
        with SqlAlchemyUnitOfWork(engine) as writer:
            writer.settings.save(EmailConfiguration(smart_matching_min_recipients=9))
            with SqlAlchemyUnitOfWork(engine, read_only=True) as reader:
                assert reader.settings.get().smart_matching_min_recipients == 7
            writer.commit()
    finally:
        engine.dispose()


def test_a_read_only_unit_of_work_refuses_to_commit(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with (
            SqlAlchemyUnitOfWork(engine, read_only=True) as reader,
            pytest.raises(StorageError, match="cannot commit"),
        ):
            reader.commit()
    finally:
        engine.dispose()
