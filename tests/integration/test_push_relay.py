"""The push relay between processes, against the real PostgreSQL: what a web process publishes
reaches every listening worker unchanged, however large, and a listener whose connection is
cut reconnects and says so (its sessions then look again)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from tests.waiting import wait_until
from tidings.adapters.gmail.push import GmailPushHub
from tidings.adapters.graph.notifications import GraphNotificationHub
from tidings.adapters.storage.push_relay import (
    APPLICATION_NAME,
    MAX_PAYLOAD_BYTES,
    PostgresPushRelay,
)
from tidings.adapters.storage.tables import relayed_pushes
from tidings.domain.mail_api import RelayedPush
from tidings.domain.server_profile import ServerProfileKind
from tidings.services.mail_push import MailPushService

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


class Listening:
    """A relay's listener on an event loop of its own thread, as a worker runs it."""

    def __init__(self, relay: PostgresPushRelay) -> None:
        self.received: list[RelayedPush] = []
        self.resumed = 0
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(
            target=self._loop.run_until_complete, args=(self._run(relay),)
        )
        self._thread.start()

    async def _run(self, relay: PostgresPushRelay) -> None:
        async def deliver(push: RelayedPush) -> None:
            self.received.append(push)

        async def resumed() -> None:
            self.resumed += 1

        await relay.listen(deliver, resumed, self._stop)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        self._loop.close()


def _conninfo(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


def _listener_pids(database_url: str) -> list[int]:
    """The backends of listeners that have run LISTEN and wait."""
    with psycopg.connect(_conninfo(database_url), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
            " AND datname = current_database() AND query LIKE 'LISTEN%%'",
            (APPLICATION_NAME,),
        ).fetchall()
    return [row[0] for row in rows]


@pytest.fixture
def relay(database_url: str) -> Iterator[PostgresPushRelay]:
    engine = create_engine(database_url)
    yield PostgresPushRelay(engine, database_url, first_delay=0.05, max_delay=0.2)
    engine.dispose()


def _push(body: bytes) -> RelayedPush:
    return RelayedPush("gmail", (("a", "1"),), body, (("authorization", "Bearer eyJ.token.sig"),))


def test_every_listener_receives_each_push_unchanged_large_ones_through_the_table(
    relay: PostgresPushRelay, database_url: str
) -> None:
    # Two workers; a small push travels in the NOTIFY, one beyond its limit as a row that
    # both read (neither deletes it), and any bytes survive the trip.
    first, second = Listening(relay), Listening(relay)
    try:
        wait_until(lambda: len(_listener_pids(database_url)) == 2, what="both listening")
        small = _push(b'{"value": [{"clientState": "s\xc3\xa9cret"}]}\x00\xff')
        large = _push(b"x" * (MAX_PAYLOAD_BYTES * 2))
        relay.publish(small)
        relay.publish(large)
        for listening in (first, second):
            wait_until(lambda w=listening: len(w.received) == 2, what="both pushes arriving")
            assert listening.received == [small, large]
        engine = create_engine(database_url)
        with engine.connect() as connection:
            rows = connection.execute(select(func.count()).select_from(relayed_pushes)).scalar()
        engine.dispose()
        assert rows == 1
        assert (first.resumed, second.resumed) == (0, 0)
    finally:
        first.stop()
        second.stop()


def test_a_listener_whose_connection_is_terminated_reconnects_and_resumes(
    relay: PostgresPushRelay, database_url: str
) -> None:
    # pg_terminate_backend ends the listening connection: the listener connects again,
    # LISTENs, reports that it resumed (what was published meanwhile is lost to it), and
    # receives what is published from then on.
    listening = Listening(relay)
    try:
        wait_until(lambda: len(_listener_pids(database_url)) == 1, what="listening")
        [pid] = _listener_pids(database_url)
        with psycopg.connect(_conninfo(database_url), autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        wait_until(lambda: listening.resumed == 1, what="the listener resuming")
        [again] = _listener_pids(database_url)
        assert again != pid
        relay.publish(_push(b"after"))
        wait_until(lambda: len(listening.received) == 1, what="the push after reconnecting")
        assert listening.received[0].body == b"after"
    finally:
        listening.stop()


def test_a_web_process_relays_only_what_it_cannot_answer_alone(
    relay: PostgresPushRelay, database_url: str
) -> None:
    # Graph's handshake is echoed and a Gmail push without a token refused by the web
    # process itself; a Graph notification is answered 202 and relayed with its body and
    # nothing of the request's headers but Authorization.
    receivers = {
        ServerProfileKind.EXCHANGE_ONLINE: GraphNotificationHub(),
        ServerProfileKind.GMAIL: GmailPushHub(),
    }
    web = MailPushService(receivers, relay)
    web.relay_to_workers()
    listening = Listening(relay)
    try:
        wait_until(lambda: len(_listener_pids(database_url)) == 1, what="listening")
        handshake = web.receive("exchange_online", {"validationToken": "abc"}, b"", {})
        no_token = web.receive("gmail", {}, b'{"message": {}}', {})
        body = b'{"value": [{"subscriptionId": "s", "clientState": "c", "changeType": "created"}]}'
        headers = {"authorization": "Bearer t", "cookie": "session=secret"}
        notification = web.receive("exchange_online", {}, body, headers)
        assert [(r.status, r.text) for r in (handshake, no_token, notification)] == [
            (200, "abc"),
            (401, ""),
            (202, ""),
        ]
        wait_until(lambda: len(listening.received) == 1, what="the notification relayed")
        assert listening.received == [
            RelayedPush("exchange_online", (), body, (("authorization", "Bearer t"),))
        ]
    finally:
        listening.stop()
