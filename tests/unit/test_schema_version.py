"""The newest revision, read from the migration files without Alembic, is Alembic's own."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from tidings.adapters.storage.migrate import MIGRATIONS
from tidings.adapters.storage.schema_version import VERSIONS, head_revision


def test_the_head_read_from_the_files_is_the_head_alembic_upgrades_to():
    assert VERSIONS.parent == MIGRATIONS
    assert head_revision() == ScriptDirectory(str(MIGRATIONS)).get_current_head()


def _migration(folder: Path, name: str, declarations: str) -> None:
    body = f'"""{name}\n\nRevision ID: x{name}\nRevises: y\n"""\n\nimport sqlalchemy as sa\n\n'
    (folder / f"{name}.py").write_text(body + declarations)


def test_the_head_is_the_revision_nothing_revises_whatever_the_files_order(tmp_path: Path):
    _migration(tmp_path, "b_second", 'revision: str = "0002"\ndown_revision: str | None = "0001"\n')
    _migration(tmp_path, "a_third", "revision = '0003'\ndown_revision = '0002'\n")
    _migration(tmp_path, "c_first", 'revision = "0001"\ndown_revision = None\n')
    (tmp_path / "notes.py").write_text("HELPER = 1\n")
    assert head_revision(tmp_path) == "0003"


def test_a_merge_revision_revises_both_branches(tmp_path: Path):
    _migration(tmp_path, "one", 'revision = "0001"\ndown_revision = None\n')
    _migration(tmp_path, "two", 'revision = "0002"\ndown_revision = "0001"\n')
    _migration(tmp_path, "three", 'revision = "0003"\ndown_revision = "0001"\n')
    _migration(tmp_path, "merge", 'revision = "0004"\ndown_revision = ("0002", "0003")\n')
    assert head_revision(tmp_path) == "0004"


def test_two_heads_are_an_error_that_names_them(tmp_path: Path):
    _migration(tmp_path, "one", 'revision = "0001"\ndown_revision = None\n')
    _migration(tmp_path, "two", 'revision = "0002"\ndown_revision = "0001"\n')
    _migration(tmp_path, "three", 'revision = "0003"\ndown_revision = "0001"\n')
    with pytest.raises(RuntimeError, match=r"2 heads: \['0002', '0003'\]"):
        head_revision(tmp_path)
