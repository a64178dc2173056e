"""The connections that wait for PostgreSQL notifications all day (the relayed pushes, the
task queue's new jobs) wake for a notification as it arrives, and a wait cancelled (a
worker stopping) ends at once and leaves the connection usable."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tidings.adapters.storage.listening import ListeningConnection

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _conninfo(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def test_a_notification_reaches_the_waiting_connection_and_a_cancelled_wait_ends(
    database_url: str,
) -> None:
    conninfo = _conninfo(database_url)

    async def main() -> tuple[list[str], int]:
        async with await ListeningConnection.connect(conninfo, autocommit=True) as listener:
            await listener.execute("LISTEN tidings_test")
            received: list[str] = []

            async def first() -> None:
                async for notify in listener.notifies():
                    received.append(notify.payload)
                    return

            waiting = asyncio.create_task(first())
            await asyncio.sleep(0.2)  # the listener is waiting on its socket by now
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as other:
                await other.execute("NOTIFY tidings_test, 'hello'")
            await waiting
            again = asyncio.create_task(first())
            await asyncio.sleep(0.2)
            again.cancel()
            await asyncio.gather(again, return_exceptions=True)
            row = await (await listener.execute("SELECT 1")).fetchone()
            return received, row[0] if row else 0

    assert asyncio.run(main()) == (["hello"], 1)
