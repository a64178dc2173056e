"""The Alembic migrations produce exactly the schema the tables declare, on every database."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from tidings.adapters.storage.database import is_schema_current, make_engine
from tidings.adapters.storage.migrate import alembic_config, upgrade
from tidings.adapters.storage.schema_version import database_revision
from tidings.adapters.storage.tables import metadata


# SQLite's expression indexes cannot be reflected, so the comparison skips them, saying so:
# the test below reads them from the database itself.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_upgrade_head_gives_exactly_the_models_schema(database_url: str) -> None:
    # Any drift between tables.py and the migrations is a bug: the diff must be empty.
    engine = make_engine(database_url)
    with engine.connect() as connection:
        opts = {"compare_type": True, "include_name": _not_the_task_queue}
        context = MigrationContext.configure(connection, opts=opts)
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_the_indexes_the_grid_and_the_access_conditions_read_are_as_declared(
    database_url: str,
) -> None:
    # What the comparison cannot see: an index on an expression (SQLite), and the ids an
    # index holds beside its key (PostgreSQL's INCLUDE).
    engine = make_engine(database_url)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.execute(
                text("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
            ).all()
        else:
            rows = connection.execute(text("SELECT indexname, indexdef FROM pg_indexes")).all()
    engine.dispose()
    defined = {str(name): " ".join(str(sql).lower().split()) for name, sql in rows if sql}
    assert "coalesce(received_at, created_at), id" in defined["ix_email_activities_received"]
    if database_url.startswith("postgresql"):
        assert defined["ix_email_activities_owner_kind_owner_id"].endswith("include (id)")
        assert defined["ix_email_activities_mailbox_id"].endswith("include (id)")
        assert defined["ix_activity_parties_party_kind_party_id"].endswith("include (activity_id)")


def _not_the_task_queue(name: str | None, kind: str, parents: object) -> bool:
    # procrastinate's own schema, created by the same migrations on PostgreSQL.
    return not (name or "").startswith("procrastinate_")


def test_upgrading_twice_changes_nothing(database_url: str) -> None:
    # `tidings db upgrade` is safe to run on every start.
    upgrade(database_url)
    engine = make_engine(database_url)
    tables = {n for n in inspect(engine).get_table_names() if _not_the_task_queue(n, "table", {})}
    engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}


#: The migration that shares mailboxes among workers.
QUEUE_REVISION = "0022"


def test_the_task_queue_comes_and_goes_with_its_migration(database_url: str) -> None:
    # On PostgreSQL the migration that shares mailboxes brings the task queue's schema;
    # downgrading removes every object of it, so that upgrading again can create it anew.
    def queue_tables() -> set[str]:
        engine = make_engine(database_url)
        names = {n for n in inspect(engine).get_table_names() if n.startswith("procrastinate_")}
        engine.dispose()
        return names

    postgres = database_url.startswith("postgresql")
    assert bool(queue_tables()) == postgres
    config = alembic_config(database_url)
    before = ScriptDirectory.from_config(config).get_revision(QUEUE_REVISION).down_revision
    command.downgrade(config, str(before))
    assert queue_tables() == set()
    upgrade(database_url)
    assert bool(queue_tables()) == postgres


def test_the_schema_check_reads_the_revision_alembic_wrote(database_url: str) -> None:
    # Workers check the schema without Alembic: what they read must be what Alembic wrote.
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            written = MigrationContext.configure(connection).get_current_revision()
            assert database_revision(connection) == written == _alembic_head()
        assert is_schema_current(engine)
        config = alembic_config(database_url)
        command.downgrade(config, "-1")
        assert not is_schema_current(engine)
        upgrade(database_url)
        assert is_schema_current(engine)
    finally:
        engine.dispose()


def test_a_database_never_upgraded_is_not_current(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with engine.connect() as connection:
            assert database_revision(connection) is None
        assert not is_schema_current(engine)
    finally:
        engine.dispose()


def _alembic_head() -> str | None:
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
