"""``PostgresPushRelay``: change notifications from the web processes to every sync worker,
through PostgreSQL's LISTEN/NOTIFY (https://www.postgresql.org/docs/current/sql-notify.html).

The web process publishes each notification as a NOTIFY on ``tidings_push``; every worker
LISTENs on its own connection and receives each one, since which of them holds the session a
notification concerns is known only there. A payload must stay under 8000 bytes: one that
does not fit (a large batch of Graph notifications) is written to ``relayed_pushes`` in the
same transaction as a NOTIFY of its row id, which the workers read. Rows are not deleted by
a reader, as every worker must read them; the publisher purges those older than a few
minutes. Small payloads, nearly all of them (a Gmail push with its token is about 1.5 kB, a
Graph notification under 1 kB), travel in the NOTIFY alone: no write, no table to grow.

A NOTIFY reaches only the connections listening at commit: a worker whose connection was
lost reconnects with back-off and, once listening again, has every waiting session look
again (``resumed``), which finds whatever the missed notifications announced. A worker down
meanwhile misses nothing either: its sessions start with a round, and poll as a fallback.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.engine import make_url

from tidings.adapters.storage.listening import ListeningConnection
from tidings.adapters.storage.tables import relayed_pushes
from tidings.domain.mail_api import RelayedPush

log = logging.getLogger(__name__)

CHANNEL = "tidings_push"
#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; larger ones go through the table.
MAX_PAYLOAD_BYTES = 7900
#: How long a relayed row stays for workers to read: far longer than a NOTIFY takes.
KEEP_ROWS = timedelta(minutes=5)
#: How the listening connection names itself in pg_stat_activity.
APPLICATION_NAME = "tidings push relay"
#: TCP keepalives notice a connection that died without a word (a host gone, a firewall).
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
}

Deliver = Callable[[RelayedPush], Awaitable[None]]


class PostgresPushRelay:
    """A ``PushRelay`` over the database that web processes and workers share."""

    def __init__(
        self,
        engine: Engine,
        url: str,
        *,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
    ) -> None:
        self._engine = engine
        dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._conninfo = psycopg.conninfo.make_conninfo(dsn, **KEEPALIVES)
        self._first_delay = first_delay
        self._max_delay = max_delay

    def publish(self, push: RelayedPush) -> None:
        payload = encode(push)
        with self._engine.begin() as connection:
            if len(payload.encode()) > MAX_PAYLOAD_BYTES:
                now = datetime.now(UTC)
                connection.execute(
                    delete(relayed_pushes).where(relayed_pushes.c.created_at < now - KEEP_ROWS)
                )
                row_id = connection.execute(
                    insert(relayed_pushes)
                    .values(payload=payload, created_at=now)
                    .returning(relayed_pushes.c.id)
                ).scalar_one()
                payload = json.dumps({"row": row_id})
            # Sent at commit, so a worker reading the row by its id finds it.
            connection.execute(select(func.pg_notify(CHANNEL, payload)))

    async def listen(
        self, deliver: Deliver, resumed: Callable[[], Awaitable[None]], stop: asyncio.Event
    ) -> None:
        delay, listened = self._first_delay, False
        while not stop.is_set():
            try:
                connection = await ListeningConnection.connect(
                    self._conninfo, autocommit=True, application_name=APPLICATION_NAME
                )
                async with connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    if listened:
                        log.info("listening for relayed change notifications again")
                        await resumed()
                    else:
                        log.info("listening for relayed change notifications")
                    listened, delay = True, self._first_delay
                    await self._receive(connection, deliver, stop)
            except psycopg.Error as error:
                log.warning(
                    "the connection for relayed change notifications failed (%s); "
                    "trying again in %.1f s",
                    str(error).strip() or type(error).__name__,
                    delay,
                )
            except Exception:  # the worker syncs on without the relay, and tries it again
                log.exception("listening for relayed change notifications failed")
            if stop.is_set():
                return
            # Jitter: workers that lost the database together do not return together.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter, not secrecy
            delay = min(delay * 2, self._max_delay)

    async def _receive(
        self, connection: psycopg.AsyncConnection[object], deliver: Deliver, stop: asyncio.Event
    ) -> None:
        """Deliver what arrives until ``stop``; raises once the connection is lost."""
        reader = asyncio.create_task(self._read(connection, deliver))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({reader, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
        if reader.done() and not reader.cancelled():
            reader.result()

    async def _read(self, connection: psycopg.AsyncConnection[object], deliver: Deliver) -> None:
        async for notify in connection.notifies():
            try:
                push = await self._decoded(notify.payload)
                if push is not None:
                    await deliver(push)
            except psycopg.Error:
                raise
            except Exception:  # one bad notification must not end the others
                log.exception("a relayed change notification was not handled")
        raise psycopg.OperationalError("the listening connection ended")

    async def _decoded(self, payload: str) -> RelayedPush | None:
        fields = json.loads(payload)
        if "row" in fields:
            stored = await asyncio.to_thread(self._stored, int(fields["row"]))
            if stored is None:  # purged: far older than any wake still worth waking for
                return None
            fields = json.loads(stored)
        return decode(fields)

    def _stored(self, row_id: int) -> str | None:
        with self._engine.connect() as connection:
            return connection.execute(
                select(relayed_pushes.c.payload).where(relayed_pushes.c.id == row_id)
            ).scalar_one_or_none()


def encode(push: RelayedPush) -> str:
    """The JSON text of ``push``; its body in base64, since it may be any bytes."""
    return json.dumps(
        {
            "kind": push.kind,
            "query": push.query,
            "headers": push.headers,
            "body": base64.b64encode(push.body).decode(),
        },
        separators=(",", ":"),
    )


def decode(fields: dict[str, object]) -> RelayedPush:
    query, headers, body = fields["query"], fields["headers"], fields["body"]
    if not (isinstance(query, list) and isinstance(headers, list) and isinstance(body, str)):
        raise ValueError("not a relayed change notification")
    return RelayedPush(
        str(fields["kind"]),
        tuple((str(k), str(v)) for k, v in query),
        base64.b64decode(body),
        tuple((str(k), str(v)) for k, v in headers),
    )
