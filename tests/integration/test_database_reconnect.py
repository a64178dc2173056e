"""Connections the database server ended are replaced, not reported as storage failures."""

from __future__ import annotations

import psycopg
import pytest

from tests.database_locks import postgres_conninfo
from tidings.bootstrap import Tidings

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def test_pooled_connections_ended_by_the_server_are_replaced_on_next_use(
    tidings: Tidings, database_url: str
) -> None:
    # A failover or an operator's pg_terminate_backend ends every idle connection in the
    # pool; the next unit of work is handed a new one instead of failing.
    with tidings.uow() as uow:
        uow.settings.get()
    with psycopg.connect(postgres_conninfo(database_url), autocommit=True) as conn:
        ended = conn.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    assert ended is not None and ended[0] >= 1
    with tidings.uow() as uow:
        assert uow.settings.get() is not None
