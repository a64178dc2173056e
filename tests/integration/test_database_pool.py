"""The database connection pool of each process is sized by the settings, on SQLite and
PostgreSQL alike, and a size that cannot work is refused before anything starts."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from pydantic import ValidationError
from sqlalchemy import QueuePool

from tests.conftest import settings_for
from tidings.bootstrap import bootstrap
from tidings.config import Settings


def test_the_pool_keeps_and_overflows_by_the_settings(database_url: str) -> None:
    # Two kept open, one more at busy times: three connections held at once.
    app = bootstrap(settings_for(database_url, database_pool_size=2, database_max_overflow=1))
    try:
        pool = app.engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.size() == 2
        assert pool._max_overflow == 1  # no public reader of the ceiling
        with contextlib.ExitStack() as held:
            for _ in range(3):
                held.enter_context(app.engine.connect())
            assert (pool.checkedout(), pool.overflow()) == (3, 1)
    finally:
        app.close()


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_workers_task_queue_holds_as_many_connections_as_the_setting_says(
    database_url: str,
) -> None:
    app = bootstrap(settings_for(database_url, task_queue_pool_size=3))
    try:
        holding = app.mailbox_holding()
        assert holding is not None
        queue = holding._queue  # the queue a worker runs, as `tidings worker` builds it

        async def opened() -> tuple[int, int]:
            async with queue.app.open_async():  # type: ignore[attr-defined]
                pool = queue.app.connector.pool  # type: ignore[attr-defined]
                return pool.min_size, pool.max_size

        assert asyncio.run(opened()) == (1, 3)
    finally:
        app.close()


def test_without_settings_the_pool_is_five_and_ten_more(database_url: str) -> None:
    app = bootstrap(settings_for(database_url))
    try:
        pool = app.engine.pool
        assert isinstance(pool, QueuePool)
        assert (pool.size(), pool._max_overflow) == (5, 10)
    finally:
        app.close()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TIDINGS_DATABASE_POOL_SIZE", "0"),
        ("TIDINGS_DATABASE_POOL_SIZE", "many"),
        ("TIDINGS_DATABASE_POOL_SIZE", "1001"),
        ("TIDINGS_DATABASE_MAX_OVERFLOW", "-1"),
        ("TIDINGS_TASK_QUEUE_POOL_SIZE", "1"),
    ],
)
def test_a_pool_size_that_cannot_work_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    [error] = refused.value.errors()
    assert error["loc"] == (variable.removeprefix("TIDINGS_").lower(),)
