"""Schema upgrades with Alembic, for ``tidings db upgrade`` and the commands that create
a database; nothing else loads Alembic (``schema_version`` answers whether one is due)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from tidings.adapters.storage.database import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    """Alembic's configuration for ``url``, with the migrations shipped in the package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
