"""Delivery → activity committed latency for Exchange Online, through the Graph contract fake.

Two ways of learning of new mail, measured separately:

- **delta polling** at the profile's fastest interval (one second), next to a bare client
  polling the same delta query at the same interval: the floor that polling itself sets;
- **change notifications** (the profile has a public notification URL; Tidings' API receives
  Graph's POST and wakes the folder), next to the moment the notification was answered: the
  floor that the notification's own round trip sets.

Mail arrives through the fake's own delivery at random moments to random mailboxes; the
fake, Tidings' API and its sync worker all run in this process, on loopback.

    python bench/latency_graph.py [--mailboxes 1 20] [--emails 100] [--modes polling push]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from bench.latency import Clocked, percentiles, watching_tidings

from tests.builders import make_email
from tests.contract.graph_fake import FakeApp, FakeGraphServer
from tests.contract.graph_source import graph_profile, use_graph_profile
from tests.contract.https_app import https_app
from tidings.domain.sync import SyncMode
from tidings.entrypoints.api.app import create_app

SECRET = "bench-secret"  # noqa: S105 - the fake app registration's, nothing real
POLL_SECONDS = 1.0


async def bare_delta_poller(
    graph: FakeGraphServer,
    app: FakeApp,
    address: str,
    seen: Clocked,
    stop: asyncio.Event,
) -> None:
    """The floor of polling: the same delta query every second, nothing else."""
    verify = str(graph.ca_file)
    async with httpx.AsyncClient(verify=verify, timeout=30) as http:
        token_url = f"{graph.authority_url}/{graph.tenant_id}/oauth2/v2.0/token"
        answer = await http.post(
            token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": app.client_id,
                "client_secret": SECRET,
                "scope": f"{graph.graph_url}/.default",
            },
        )
        headers = {
            "Authorization": f"Bearer {answer.json()['access_token']}",
            "Prefer": 'IdType="ImmutableId"',
        }
        url = f"{graph.graph_url}/v1.0/users/{address}/mailFolders/inbox/messages/delta"
        count = 0
        while not stop.is_set():
            page = (await http.get(url, headers=headers)).json()
            for item in page.get("value", []):
                if "@removed" not in item:
                    count += 1
                    seen.mark(f"{address}#{count}")
            if "@odata.nextLink" in page:
                url = page["@odata.nextLink"]
                continue
            url = page["@odata.deltaLink"]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), POLL_SECONDS)


def run(mailboxes: int, emails: int, seed: int, push: bool) -> None:
    names = [f"user{n}" for n in range(mailboxes)]
    addresses = [f"{name}@northwind.example" for name in names]
    with tempfile.TemporaryDirectory() as tmp, FakeGraphServer(Path(tmp) / "graph") as graph:
        app = graph.add_app(secret=SECRET)
        for address in addresses:
            graph.add_mailbox(address)
        tidings, org, tidings_seen = watching_tidings(Path(tmp), names)
        floor_seen = Clocked()
        with https_app(create_app(tidings), graph.certificates) as base:
            profile = graph_profile(graph, app)
            if push:  # notifications wake sync; polling hourly is only the fallback
                profile.options["notification_url"] = f"{base}/api/push/exchange_online"
                profile = replace(profile, min_polling_interval_minutes=60)
            profile = replace(profile, max_concurrent_connections=max(mailboxes, 10))
            use_graph_profile(org, profile, SECRET, names)

            loop = asyncio.new_event_loop()
            stop = asyncio.Event()

            async def main() -> None:
                tasks = [asyncio.create_task(tidings.sync.run(stop))]
                if not push:
                    tasks += [
                        asyncio.create_task(bare_delta_poller(graph, app, a, floor_seen, stop))
                        for a in addresses
                    ]
                await asyncio.gather(*tasks, return_exceptions=True)

            thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
            thread.start()
            waiting = SyncMode.IDLE if push else SyncMode.POLLING
            deadline = time.monotonic() + 120
            while sum(m is waiting for m in tidings.sync.modes.values()) < mailboxes:
                if time.monotonic() > deadline:
                    raise SystemExit(f"sync never reached {waiting} on every mailbox")
                time.sleep(0.05)
            time.sleep(POLL_SECONDS * 1.5)  # the bare pollers have their first delta link

            rng = random.Random(seed)
            delivered: dict[str, tuple[float, str]] = {}
            per_box = dict.fromkeys(addresses, 0)
            for number in range(emails):
                address = rng.choice(addresses)
                message_id = f"<lat-{number}@bench.example>"
                raw = make_email(to=address, subject=f"Latency {number}", message_id=message_id)
                started = time.monotonic()
                graph.deliver(address, raw)  # with push: returns once Tidings answered 202
                per_box[address] += 1
                key = f"{address}#{per_box[address]}"
                if push:
                    floor_seen.mark(key)
                delivered[message_id] = (started, key)
                time.sleep(rng.uniform(0.0, 0.2))
            deadline = time.monotonic() + 60
            while len(tidings_seen.seen) < emails and time.monotonic() < deadline:
                time.sleep(0.05)
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=30)
        tidings.close()

        ours = [
            tidings_seen.seen[m] - t for m, (t, _) in delivered.items() if m in tidings_seen.seen
        ]
        floor = [floor_seen.seen[k] - t for t, k in delivered.values() if k in floor_seen.seen]
        how = "change notifications" if push else f"delta polling every {POLL_SECONDS:g} s"
        print(f"\nGraph, {how}: {mailboxes} mailbox(es), {emails} emails ({len(ours)} in time)")
        print(f"  tidings  delivery -> activity committed:      {percentiles(ours)}")
        if push:
            print(f"  notification answered (the floor):          {percentiles(floor)}")
        else:
            print(f"  bare delta poller, same interval (floor):   {percentiles(floor)}")
        gap = (statistics.median(ours) - statistics.median(floor)) * 1000
        print(f"  median difference: {gap:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, nargs="+", default=[1, 20])
    parser.add_argument("--emails", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--modes", nargs="+", choices=["polling", "push"], default=["polling", "push"]
    )
    args = parser.parse_args()
    for mode in args.modes:
        for count in args.mailboxes:
            run(count, args.emails, args.seed, push=mode == "push")


if __name__ == "__main__":
    main()
