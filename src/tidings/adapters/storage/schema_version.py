"""Which migration a database is at, and the newest one shipped, without loading Alembic.

Every long-running process checks on start that its database is current, and readiness
reports both revisions; Alembic's runtime (with Mako behind it) costs a process about
11 MB that only ``tidings db upgrade`` needs. The newest revision is read from what the
migration files declare, the database's from Alembic's version table.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from sqlalchemy import Connection, inspect, text

from tidings.domain.errors import StorageError

VERSIONS = Path(__file__).with_name("migrations") / "versions"
#: Alembic's table of the revision a database is at (its default name and schema).
VERSION_TABLE = "alembic_version"
#: ``revision = "0022"``, ``down_revision: str | None = "0021"``: a migration's own lines,
#: never its docstring's ("Revision ID: …").
_DECLARATION = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


@functools.cache
def head_revision(versions: Path = VERSIONS) -> str:
    """The revision no migration in ``versions`` revises: the one ``upgrade head`` reaches."""
    revises: dict[str, tuple[str, ...]] = {}
    for path in sorted(versions.glob("*.py")):
        declared = dict(_DECLARATION.findall(path.read_text(encoding="utf-8")))
        if "revision" not in declared:
            continue  # not a migration (Alembic skips it too)
        down = ast.literal_eval(declared.get("down_revision", "None"))
        revises[ast.literal_eval(declared["revision"])] = (
            () if down is None else (down,) if isinstance(down, str) else tuple(down)
        )
    heads = sorted(set(revises) - {r for downs in revises.values() for r in downs})
    if len(heads) != 1:
        raise RuntimeError(f"the migrations in {versions} have {len(heads)} heads: {heads}")
    return heads[0]


def database_revision(connection: Connection) -> str | None:
    """The revision the database is at; None if it was never upgraded."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(found) > 1:
        raise StorageError(f"the database is at several revisions at once: {sorted(found)}")
    return found[0] if found else None
