"""Push → worker wake latency through the PostgreSQL relay, next to a bare LISTEN/NOTIFY.

A web-side ``MailPushService`` (as ``tidings serve`` without ``--worker`` runs it) receives a
Graph change notification and relays it; a worker-side one, listening on an event loop of its
own thread (as ``tidings worker`` runs it), hands it to its ``GraphNotificationHub``, where a
subscription waits: the figure is from the web side's ``receive`` call to the subscription's
``Notices.arrived`` being set. A notification of a few hundred bytes travels in the NOTIFY; a
batch beyond NOTIFY's 8000-byte limit goes through the ``relayed_pushes`` table. The floor:
a bare psycopg NOTIFY from one connection to another LISTENing one, on the same server in
the same run. HTTP and the vendor are not measured (bench/latency_graph.py has them).

    python bench/push_relay.py [--pushes 300] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from sqlalchemy import create_engine

from tidings.adapters.graph.notifications import GraphNotificationHub
from tidings.adapters.storage.migrate import upgrade
from tidings.adapters.storage.push_relay import PostgresPushRelay
from tidings.domain.server_profile import ServerProfileKind
from tidings.services.mail_push import MailPushService

SUBSCRIPTION, CLIENT_STATE = "bench-subscription", "bench-client-state"
KIND = ServerProfileKind.EXCHANGE_ONLINE


def figures(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return f"p50 {at(0.50):6.2f} ms  p99 {at(0.99):6.2f} ms  max {ordered[-1] * 1000:6.2f} ms"


def notification_body(count: int) -> bytes:
    """A Graph batch of ``count`` notifications, as Graph posts it (about 450 bytes each)."""
    one = {
        "subscriptionId": SUBSCRIPTION,
        "subscriptionExpirationDateTime": "2026-12-10T00:00:00.0000000Z",
        "changeType": "created",
        "resource": "Users/dana@northwind.example/Messages/AAMkAD",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Message",
            "@odata.id": "Users/dana@northwind.example/Messages/AAMkAD",
            "id": "AAMkADQ4ZTVhYzI4LTQ2NmUtNGFhMC1iODIwLTQ2ZTgyMjI4ZmU4MgBGAAAAAA",
        },
        "clientState": CLIENT_STATE,
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    }
    return json.dumps({"value": [one] * count}).encode()


class Worker:
    """The worker side on its own loop: the relay's listener feeding a hub with one waiting
    subscription; ``woken`` is set whenever the subscription's notices arrive."""

    def __init__(self, relay: PostgresPushRelay) -> None:
        self.woken = threading.Event()
        self.woken_at = 0.0
        self.listening = threading.Event()
        self._relay = relay
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),))
        self._thread.start()

    async def _run(self) -> None:
        hub = GraphNotificationHub()
        notices = hub.register(SUBSCRIPTION, CLIENT_STATE)
        service = MailPushService({KIND: hub}, self._relay)

        async def wake() -> None:
            while True:
                await notices.arrived.wait()
                self.woken_at = time.perf_counter()
                notices.take()
                self.woken.set()

        waking = asyncio.create_task(wake())
        listening = asyncio.create_task(service.listen(self._stop))
        self.listening.set()
        await listening
        waking.cancel()

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        self._loop.close()


def relayed(url: str, pushes: int, batch: int) -> list[float]:
    engine = create_engine(url)
    relay = PostgresPushRelay(engine, url)
    web = MailPushService({KIND: GraphNotificationHub()}, relay)
    web.relay_to_workers()
    body = notification_body(batch)
    worker = Worker(relay)
    samples: list[float] = []
    try:
        worker.listening.wait()
        _settle(worker, web, body)
        for _ in range(pushes):
            worker.woken.clear()
            started = time.perf_counter()
            assert web.receive(KIND.value, {}, body, {}).status == 202
            assert worker.woken.wait(timeout=10), "the worker was not woken"
            samples.append(worker.woken_at - started)
            time.sleep(random.uniform(0.001, 0.01))
    finally:
        worker.stop()
        engine.dispose()
    return samples


def _settle(worker: Worker, web: MailPushService, body: bytes) -> None:
    """Push until the listener is up and the first pushes' one-off costs are paid."""
    for _ in range(20):
        worker.woken.clear()
        web.receive(KIND.value, {}, body, {})
        worker.woken.wait(timeout=1)


def bare(conninfo: str, pushes: int) -> list[float]:
    """The floor: NOTIFY on one connection → notifies() on another."""
    received = threading.Event()
    received_at = [0.0]
    listener = psycopg.connect(conninfo, autocommit=True)
    listener.execute("LISTEN bench_floor")

    def listen() -> None:
        for notify in listener.notifies():
            received_at[0] = time.perf_counter()
            received.set()
            if notify.payload == "stop":
                return

    thread = threading.Thread(target=listen)
    thread.start()
    samples: list[float] = []
    with psycopg.connect(conninfo, autocommit=True) as sender:
        for number in range(pushes + 20):
            received.clear()
            started = time.perf_counter()
            sender.execute("SELECT pg_notify('bench_floor', 'x')")
            assert received.wait(timeout=10)
            if number >= 20:
                samples.append(received_at[0] - started)
            time.sleep(random.uniform(0.001, 0.01))
        sender.execute("SELECT pg_notify('bench_floor', 'stop')")
    thread.join(timeout=10)
    listener.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=300)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "TIDINGS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    args = parser.parse_args()
    random.seed(7)
    name = f"tidings_bench_relay_{os.getpid()}"
    with psycopg.connect(args.postgres, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    conninfo = f"{args.postgres.rsplit('/', 1)[0]}/{name}"
    url = conninfo.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        upgrade(url)
        floor = bare(conninfo, args.pushes)
        small = relayed(url, args.pushes, 1)
        large = relayed(url, args.pushes, 30)
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
    print(f"{args.pushes} pushes each, one at a time, PostgreSQL on loopback")
    print(f"  bare LISTEN/NOTIFY round trip            {figures(floor)}")
    print(f"  push → worker wake, {len(notification_body(1)):5d} B in the NOTIFY {figures(small)}")
    print(
        f"  push → worker wake, {len(notification_body(30)):5d} B via the table  {figures(large)}"
    )


if __name__ == "__main__":
    main()
