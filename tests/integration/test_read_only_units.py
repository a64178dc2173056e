"""Units of work that only read: on SQLite they never wait for the write lock; on PostgreSQL
they run outside a transaction, which writers never inherit."""

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


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_read_on_postgresql_holds_no_lock_until_its_unit_ends(database_url: str) -> None:
    # Each statement reads a snapshot of its own: a unit that only reads runs outside a
    # transaction, so what it read is not held against a migration until the unit ends.
    engine = make_engine(database_url)
    try:
        with SqlAlchemyUnitOfWork(engine, read_only=True) as reader:
            reader.settings.get()
            with engine.connect() as other:
                other.exec_driver_sql("SET lock_timeout = '1s'")
                other.exec_driver_sql("LOCK TABLE email_configuration IN ACCESS EXCLUSIVE MODE")
                other.rollback()
    finally:
        engine.dispose()


def test_a_unit_after_a_read_on_the_same_connection_is_one_transaction(
    database_url: str,
) -> None:
    # Units used one after another share the one pooled connection: the read's mode must
    # not outlive it, or the writes of a unit that fails would stay.
    engine = make_engine(database_url)
    try:
        with SqlAlchemyUnitOfWork(engine) as first:
            first.settings.save(EmailConfiguration(smart_matching_min_recipients=7))
            first.commit()
        with SqlAlchemyUnitOfWork(engine, read_only=True) as reader:
            assert reader.settings.get().smart_matching_min_recipients == 7
        with SqlAlchemyUnitOfWork(engine) as failing:
            failing.settings.save(EmailConfiguration(smart_matching_min_recipients=9))
            # not committed: undone as the unit ends
        with SqlAlchemyUnitOfWork(engine, read_only=True) as reader:
            assert reader.settings.get().smart_matching_min_recipients == 7
        assert engine.pool.checkedin() == 1  # one connection served them all
    finally:
        engine.dispose()
