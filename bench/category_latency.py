"""Category set → email tracked latency over IMAP IDLE, next to a bare IDLE client's floor.

Starts a private Dovecot with one mailbox whose owner tracks no email by option, lets
Tidings' sync engine catch up and IDLE, and opens one bare aioimaplib IDLE client as the
floor (the server's own delay in telling a client that flags changed). Then, as a person's
mail client would, sets the tracked category's keyword on the kept emails one by one at
random moments, and prints for both the latency percentiles from the STORE's completion:
Tidings' to the activity committed, the floor's to the FETCH pushed.

    python bench/category_latency.py [--emails 100] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import random
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.latency import Clocked, check_inotify, idle_pushes, percentiles
from cryptography.fernet import Fernet

from tests.builders import Org, dovecot_profile, make_email
from tests.servers.dovecot import DovecotServer
from tidings.adapters.storage.migrate import upgrade
from tidings.bootstrap import bootstrap
from tidings.config import Settings
from tidings.domain.people import PersonalOptions, TrackIncoming
from tidings.domain.tracking import Outcome
from tidings.services.sync.model import Ingested, SyncEvent

ADDRESS, PASSWORD = "dana@northwind.example", "dana-pass"
KEYWORD = "Tracked_to_Tidings"
_FLAG_PUSH = re.compile(rb"^(\d+) FETCH \(.*FLAGS \(([^)]*)\)")


async def bare_idle(server: DovecotServer, seen: Clocked, stop: asyncio.Event) -> None:
    """A plain IDLE client: notes when the server pushes the keyword on each message."""
    async for line in idle_pushes(server, ADDRESS, PASSWORD, stop):
        match = _FLAG_PUSH.match(line)
        if match and KEYWORD.encode() in match.group(2).split():
            seen.mark(match.group(1).decode())  # sequence number = UID: nothing expunged


def run(emails: int, seed: int) -> None:
    check_inotify(2)
    with (
        tempfile.TemporaryDirectory() as tmp,
        DovecotServer(Path(tmp) / "dovecot", {ADDRESS: PASSWORD}) as server,
    ):
        for number in range(1, emails + 1):
            raw = make_email(subject=f"Category {number}", message_id=f"<cat-{number}@b.example>")
            server.deliver(ADDRESS, raw)
        url = f"sqlite:///{tmp}/tidings.db"
        upgrade(url)
        tracked, ingested = Clocked(), Clocked()

        def listen(event: SyncEvent) -> None:
            if not isinstance(event, Ingested):
                return
            for result in event.results:
                with tidings.uow() as uow:
                    uid = uow.raw_messages.require(result.raw_message_id).origin.uid
                (tracked if result.outcome is Outcome.TRACKED else ingested).mark(uid)

        settings = Settings(database_url=url, secret_keys=Fernet.generate_key().decode())
        tidings = bootstrap(settings, listener=listen)
        tidings.parser.warm_up()
        org = Org.create(tidings)
        dana = org.users["dana"]
        dana.options = PersonalOptions(TrackIncoming.NONE)
        with tidings.uow() as uow:
            uow.directory.save_user(dana)
            uow.commit()
        org.use_profile(dovecot_profile(server), {"dana": PASSWORD})

        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        floor_seen = Clocked()

        async def main() -> None:
            tasks = [
                asyncio.create_task(tidings.sync.run(stop)),
                asyncio.create_task(bare_idle(server, floor_seen, stop)),
            ]
            await asyncio.gather(*tasks, return_exceptions=True)
            leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
        thread.start()
        deadline = time.monotonic() + 120
        while len(ingested.seen) < emails or "idle" not in tidings.sync.modes.values():
            if time.monotonic() > deadline:
                raise SystemExit("sync never caught up and reached IDLE")
            time.sleep(0.05)
        time.sleep(1.5)  # let the bare client settle into IDLE as well

        person = imaplib.IMAP4("127.0.0.1", server.imap_port)
        person.login(ADDRESS, PASSWORD)
        person.select("INBOX")
        rng = random.Random(seed)
        marked: dict[str, float] = {}
        for uid in rng.sample(range(1, emails + 1), emails):
            person.uid("STORE", str(uid), "+FLAGS", f"({KEYWORD})")
            marked[str(uid)] = time.monotonic()
            time.sleep(rng.uniform(0.0, 0.2))
        person.logout()
        deadline = time.monotonic() + 60
        while len(tracked.seen) < emails and time.monotonic() < deadline:
            time.sleep(0.05)
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        tidings.close()

        ours = [tracked.seen[u] - t for u, t in marked.items() if u in tracked.seen]
        floor = [floor_seen.seen[u] - t for u, t in marked.items() if u in floor_seen.seen]
        print(f"\n{emails} emails marked ({len(ours)} tracked in time)")
        print(f"  tidings  category set -> activity committed: {percentiles(ours)}")
        if floor:
            print(f"  bare IDLE client  category set -> FETCH:    {percentiles(floor)}")
            gap = (
                (sorted(ours)[round(0.99 * (len(ours) - 1))])
                - sorted(floor)[round(0.99 * (len(floor) - 1))]
            )
            print(f"  p99 difference: {gap * 1000:.0f} ms (target: at most 250 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run(args.emails, args.seed)


if __name__ == "__main__":
    main()
