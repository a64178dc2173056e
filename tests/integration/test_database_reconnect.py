"""Connections the database server ended are replaced, not reported as storage failures."""

from __future__ import annotations

import psycopg
import pytest

from tests.database_locks import postgres_conninfo
from tests.waiting import wait_until
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
        ended = [
            pid
            for pid, signalled in conn.execute(
                "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            if signalled
        ]
        assert ended
        # pg_terminate_backend only signals: the backends are gone once they have said so.
        wait_until(lambda: not _alive(conn, ended), what="the ended backends gone")
    for _ in range(3):  # every pooled connection, the ended ones first
        with tidings.uow() as uow:
            assert uow.settings.get() is not None


def test_a_live_pooled_connection_is_handed_out_again(tidings: Tidings) -> None:
    # The pool hands out a connection only if nothing waits on its socket; an answer read
    # to its end leaves nothing, so one server process serves use after use.
    backends = set()
    for _ in range(5):
        with tidings.engine.connect() as connection:
            backends.add(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar())
    assert len(backends) == 1


def _alive(conn: psycopg.Connection[tuple[int]], pids: list[int]) -> bool:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
    ).fetchone()
    return row is not None and row[0] > 0
