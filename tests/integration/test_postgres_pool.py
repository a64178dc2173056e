"""PostgreSQL's connection pool: dead connections are noticed without a ping per use."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from tests.conftest import POSTGRES_ADMIN
from tidings.adapters.storage import database
from tidings.adapters.storage.database import make_engine

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _backend_pid(engine: object) -> int:
    with engine.connect() as connection:  # type: ignore[attr-defined]
        return int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_killed_while_idle_in_the_pool_is_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server ends a pooled connection (a restart, an idle timeout): once it has sat
    # unused long enough to be checked, the next unit of work gets a live one, no error.
    engine = make_engine(database_url)
    try:
        killed = _backend_pid(engine)
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (killed,))
        monkeypatch.setattr(database, "PING_AFTER_IDLE_SECONDS", 0.0)
        assert _backend_pid(engine) != killed
    finally:
        engine.dispose()


def test_a_connection_used_moments_ago_is_handed_out_without_a_ping(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A round trip per unit of work is what sync's thousands of short ones cannot afford.
    engine = make_engine(database_url)
    pings: list[object] = []
    ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or ping(c))
    try:
        first = _backend_pid(engine)
        assert [_backend_pid(engine) for _ in range(5)] == [first] * 5
        assert pings == []
    finally:
        engine.dispose()
