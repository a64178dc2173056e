"""The Alembic migrations produce exactly the schema the tables declare, on every database."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from tidings.adapters.storage.database import make_engine, upgrade
from tidings.adapters.storage.tables import metadata


def test_upgrade_head_gives_exactly_the_models_schema(database_url: str) -> None:
    # Any drift between tables.py and the migrations is a bug: the diff must be empty.
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, metadata)
    engine.dispose()
    assert diff == []


def test_upgrading_twice_changes_nothing(database_url: str) -> None:
    # `tidings db upgrade` is safe to run on every start.
    upgrade(database_url)
    engine = make_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert tables == set(metadata.tables) | {"alembic_version"}
