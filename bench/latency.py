"""Delivery → activity committed latency, next to a bare IDLE client's on the same deliveries.

Starts a private Dovecot with N mailboxes, lets Tidings' sync engine IDLE on all of them,
and opens one bare aioimaplib IDLE client per mailbox as the floor: the server's own
notification delay. Then delivers M emails by LMTP at random moments to random mailboxes
and prints, for both, the latency percentiles from the LMTP delivery's completion.

    python bench/latency.py [--mailboxes 1 100 1000] [--emails 200]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aioimaplib import aioimaplib
from cryptography.fernet import Fernet

from tests.builders import Org, dovecot_profile, make_email
from tests.servers.dovecot import DovecotServer
from tidings.adapters.storage.migrate import upgrade
from tidings.bootstrap import Tidings, bootstrap
from tidings.config import Settings
from tidings.services.sync.model import Ingested, SyncEvent


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return (
        f"p50 {at(0.50) * 1000:6.0f} ms  p95 {at(0.95) * 1000:6.0f} ms  "
        f"p99 {at(0.99) * 1000:6.0f} ms  max {ordered[-1] * 1000:6.0f} ms"
    )


def watching_tidings(directory: Path, names: list[str]) -> tuple[Tidings, Org, Clocked]:
    """Tidings on a fresh SQLite database in ``directory`` with a user per name, and when
    each Message-ID's activity was committed, as sync reports it."""
    url = f"sqlite:///{directory}/tidings.db"
    upgrade(url)
    seen = Clocked()

    def listen(event: SyncEvent) -> None:
        if isinstance(event, Ingested):
            for result in event.results:
                with tidings.uow() as uow:
                    stored = uow.raw_messages.require(result.raw_message_id)
                seen.mark(stored.message_id or "")

    settings = Settings(database_url=url, secret_keys=Fernet.generate_key().decode())
    tidings = bootstrap(settings, listener=listen)
    tidings.parser.warm_up()
    org = Org.create(tidings)
    for name in names:
        org.add_user(name)
    return tidings, org, seen


class Clocked:
    """Monotonic time each Message-ID was seen, filled from other threads."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()

    def mark(self, key: str) -> None:
        with self.lock:
            self.seen.setdefault(key, time.monotonic())


async def idle_pushes(
    server: DovecotServer, address: str, password: str, stop: asyncio.Event
) -> AsyncIterator[bytes]:
    """A plain IDLE client: each line the server pushes to the Inbox, until ``stop``."""
    client = aioimaplib.IMAP4(host="127.0.0.1", port=server.imap_port, timeout=30)
    await client.wait_hello_from_server()
    await client.login(address, password)
    await client.select("INBOX")
    while not stop.is_set():
        idle = await client.idle_start(timeout=60)
        try:
            push = await client.wait_server_push(timeout=1)
        except TimeoutError:
            push = []
        client.idle_done()
        await asyncio.wait_for(idle, 10)
        for line in push if isinstance(push, list) else []:
            yield bytes(line)
    await client.logout()


async def bare_idle(
    server: DovecotServer,
    address: str,
    password: str,
    seen: Clocked,
    counts: dict[str, int],
    stop: asyncio.Event,
) -> None:
    """A plain IDLE client: notes when the server pushes each new message."""
    async for text in idle_pushes(server, address, password, stop):
        if text.endswith(b"EXISTS"):
            total = int(text.split()[0])
            while counts[address] < total:
                counts[address] += 1
                seen.mark(f"{address}#{counts[address]}")


INOTIFY_LIMIT = Path("/proc/sys/fs/inotify/max_user_instances")


def check_inotify(mailboxes: int) -> None:
    """Warn when Dovecot cannot watch every session's mailbox with inotify.

    Each IMAP session takes an inotify instance to notice new mail at once, and every
    session of the test Dovecot runs as the ``mail`` user, whose instances are limited
    (128 by default, shared with any other Dovecot on the machine). A session without one
    checks its mailbox once a second instead, so both Tidings' figures and the floor's would
    measure that limit rather than IDLE.
    """
    if not INOTIFY_LIMIT.exists():
        return
    limit, needed = int(INOTIFY_LIMIT.read_text()), 2 * mailboxes + 32
    if limit < needed:
        print(
            f"warning: fs.inotify.max_user_instances is {limit}, below the {needed} this run "
            f"needs; sessions beyond it learn of new mail only once a second. Raise it with "
            f"`sysctl -w fs.inotify.max_user_instances={max(needed, 1024)}`."
        )


def run(mailboxes: int, emails: int, seed: int) -> None:
    check_inotify(mailboxes)
    names = [f"user{n}" for n in range(mailboxes)]
    users = {f"{n}@northwind.example": f"{n}-pass" for n in names}
    with (
        tempfile.TemporaryDirectory() as tmp,
        # Tidings' session and the bare client's for every mailbox, beyond Dovecot's defaults.
        DovecotServer(Path(tmp) / "dovecot", users, max_connections=2 * mailboxes + 50) as server,
    ):
        tidings, org, tidings_seen = watching_tidings(Path(tmp), names)
        idle_seen = Clocked()
        # An admin whose mailboxes should all be pushed by IDLE allows one connection each;
        # above the profile's maximum, folders poll in turn through one shared connection.
        profile = replace(dovecot_profile(server), max_concurrent_connections=max(len(names), 10))
        org.use_profile(profile, {name: f"{name}-pass" for name in names})

        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        counts = dict.fromkeys(users, 0)

        async def main() -> None:
            tasks = [asyncio.create_task(tidings.sync.run(stop))]
            tasks += [
                asyncio.create_task(bare_idle(server, a, p, idle_seen, counts, stop))
                for a, p in users.items()
            ]
            await asyncio.gather(*tasks, return_exceptions=True)
            # aioimaplib leaves helper tasks behind (IDLE timers, push queues): end them here
            # rather than have the interpreter complain about each at exit.
            leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        deadline = time.monotonic() + 120 + mailboxes * 0.5
        while sum(m == "idle" for m in tidings.sync.modes.values()) < mailboxes:
            if time.monotonic() > deadline:
                raise SystemExit("sync never reached IDLE on every mailbox")
            time.sleep(0.05)
        time.sleep(1.5)  # let the bare clients settle into IDLE as well

        rng = random.Random(seed)
        delivered: dict[str, tuple[float, str]] = {}
        per_box = dict.fromkeys(users, 0)
        for number in range(emails):
            address = rng.choice(list(users))
            message_id = f"<lat-{number}@bench.example>"
            raw = make_email(to=address, subject=f"Latency {number}", message_id=message_id)
            server.deliver(address, raw)
            per_box[address] += 1
            delivered[message_id] = (time.monotonic(), f"{address}#{per_box[address]}")
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
        floor = [idle_seen.seen[k] - t for t, k in delivered.values() if k in idle_seen.seen]
        print(f"\n{mailboxes} mailbox(es), {emails} emails ({len(ours)} tracked in time)")
        print(f"  tidings  delivery -> activity committed: {percentiles(ours)}")
        if floor:
            print(f"  bare IDLE client  delivery -> EXISTS:   {percentiles(floor)}")
        if floor:
            gap = (statistics.median(ours) - statistics.median(floor)) * 1000
            print(f"  median difference: {gap:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, nargs="+", default=[1, 100, 1000])
    parser.add_argument("--emails", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for count in args.mailboxes:
        run(count, args.emails, args.seed)


if __name__ == "__main__":
    main()
