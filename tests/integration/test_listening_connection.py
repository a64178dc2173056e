"""The connections that wait for PostgreSQL notifications all day (the relayed pushes, the
task queue's new jobs) wake for a notification as it arrives, and a wait cancelled (a
worker stopping) ends at once and leaves the connection usable."""

from __future__ import annotations

import asyncio
from typing import TypeVar

import psycopg
import pytest
from psycopg.abc import PQGen
from sqlalchemy.engine import make_url
from typing_extensions import override

from tidings.adapters.storage.listening import WAKE_SECONDS, ListeningConnection

RV = TypeVar("RV")

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _conninfo(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


class _Watched(ListeningConnection):
    """A listening connection that says when it has begun waiting on its socket."""

    waiting: asyncio.Event

    @override
    async def wait(
        self, gen: PQGen[RV], interval: float = WAKE_SECONDS, timeout: float | None = None
    ) -> RV:
        # Set before the wait, which then suspends on the socket before any other task
        # runs: whoever awaits the event finds the connection waiting.
        self.waiting.set()
        return await super().wait(gen, interval, timeout)


def test_a_notification_reaches_the_waiting_connection_and_a_cancelled_wait_ends(
    database_url: str,
) -> None:
    conninfo = _conninfo(database_url)

    async def main() -> tuple[list[str], int]:
        async with await _Watched.connect(conninfo, autocommit=True) as listener:
            listener.waiting = asyncio.Event()
            await listener.execute("LISTEN tidings_test")
            received: list[str] = []

            async def first() -> None:
                async for notify in listener.notifies():
                    received.append(notify.payload)
                    return

            async def waiting_on_its_socket(task: asyncio.Task[None]) -> asyncio.Task[None]:
                listener.waiting.clear()
                await listener.waiting.wait()
                return task

            waiting = await waiting_on_its_socket(asyncio.create_task(first()))
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as other:
                await other.execute("NOTIFY tidings_test, 'hello'")
            await waiting
            again = await waiting_on_its_socket(asyncio.create_task(first()))
            again.cancel()
            await asyncio.gather(again, return_exceptions=True)
            row = await (await listener.execute("SELECT 1")).fetchone()
            return received, row[0] if row else 0

    assert asyncio.run(main()) == (["hello"], 1)
