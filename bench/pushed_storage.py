"""The storage work of pushed email, per email, beside bulk ingest of the same emails.

A pushed email costs its folder a round: ingest (with what other folders hand over at the
same moment), the cursor saved, what lacks the tracked category read, and the category
written recorded with the MODSEQ the round reached. This runs those rounds through the
real services for ``--rounds`` moments at which ``--folders`` folders each bring one email,
with no mail server (the IMAP side is left out: what is measured is what storage costs),
and prints the CPU per email of this process and of the database server's processes. The
baseline, in the same run, is the same number of emails ingested in bulk
(``ingest_many``, batches of 100), as a first sync does.

    python bench/pushed_storage.py [--database postgresql|sqlite] [--rounds 300]
                                   [--folders 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from cryptography.fernet import Fernet

from tests.builders import Org, make_email
from tidings.adapters.storage.migrate import upgrade
from tidings.bootstrap import Tidings, bootstrap
from tidings.config import Settings
from tidings.domain.message import MessageOrigin
from tidings.domain.sync import FolderCursor, SyncMode
from tidings.services.category_tracking import CategoryTracking
from tidings.services.departures import Departures
from tidings.services.sync.batching import IngestBatcher
from tidings.services.sync.status import SyncStatusBoard

POSTGRES = os.environ.get("TIDINGS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
USERS = 50


class ServerCpu:
    """CPU seconds used by the PostgreSQL backends of one database (0 on SQLite), sampled
    in a thread: a backend the pool closes takes its count with it, so each is remembered
    as last seen. What the sampling itself costs this process is kept apart (``own``)."""

    def __init__(self, database: str | None) -> None:
        self._database = database
        self._seen: dict[int, float] = {}
        self._lock = threading.Lock()
        self._own = 0.0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        if database is not None:
            self._sampler.start()

    def seconds(self) -> float:
        with self._lock:
            return sum(self._seen.values())

    def own(self) -> float:
        """CPU seconds this process spent sampling."""
        with self._lock:
            return self._own

    def close(self) -> None:
        self._stop.set()
        if self._sampler.is_alive():
            self._sampler.join()

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            while not self._stop.wait(0.2):
                started = time.thread_time()
                pids = admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (self._database,)
                ).fetchall()
                seen = {}
                for (pid,) in pids:
                    try:
                        stat = Path(f"/proc/{pid}/stat").read_text()
                    except OSError:
                        continue  # ended meanwhile: its last count stays
                    fields = stat.rsplit(")", 1)[1].split()
                    seen[pid] = (int(fields[11]) + int(fields[12])) / tick
                with self._lock:
                    self._seen.update(seen)
                    self._own += time.thread_time() - started


def database(kind: str, folder: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{folder / 'pushed.db'}", None
    name = f"bench_pushed_{os.getpid()}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}", name


@contextmanager
def organization(kind: str) -> Iterator[tuple[Tidings, Org, str | None]]:
    """Tidings on a fresh database of ``kind`` with an organization and no user, and the
    PostgreSQL database's name (None on SQLite); the database is dropped at the end."""
    with tempfile.TemporaryDirectory() as folder:
        url, name = database(kind, Path(folder))
        tidings: Tidings | None = None
        try:
            upgrade(url)
            key = Fernet.generate_key().decode()
            tidings = bootstrap(Settings(database_url=url, parse_workers=0, secret_keys=key))
            yield tidings, Org.create(tidings), name
        finally:
            if tidings is not None:
                tidings.close()
            if name is not None:
                with psycopg.connect(POSTGRES, autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Emails:
    """A new email for a folder each time, its UID the folder's next."""

    def __init__(self, org: Org) -> None:
        self._org = org
        self._uid = 0

    def next(self, user: str) -> tuple[int, bytes, MessageOrigin]:
        self._uid += 1
        raw = make_email(subject=f"Pushed {self._uid}", message_id=f"<p{self._uid}@b.example>")
        origin = MessageOrigin(self._org.mailboxes[user], "INBOX", 1, str(self._uid))
        return self._uid, raw, origin


class PushedRounds:
    """What the sync services do in storage for each pushed email's round."""

    def __init__(self, tidings: Tidings, org: Org, emails: Emails, folders: int) -> None:
        self._org = org
        self._emails = emails
        self._folders = folders
        departures = Departures(tidings.uow, tidings.clock)
        self._batcher = IngestBatcher(tidings.ingest, screen=departures.copies_elsewhere)
        self._categories = CategoryTracking(tidings.uow, tidings.clock)
        self._board = SyncStatusBoard(
            tidings.uow, tidings.clock, record_written=self._categories.record_written_in
        )
        self._turn = 0

    async def moment(self) -> None:
        """``folders`` folders each bring one email at the same moment."""
        users = [f"u{(self._turn + n) % USERS}" for n in range(self._folders)]
        self._turn += self._folders
        await asyncio.gather(*(self._round(user) for user in users))

    async def _round(self, user: str) -> None:
        uid, raw, origin = self._emails.next(user)
        key = (origin.mailbox_id, origin.folder)
        await self._batcher.ingest([(raw, origin)])
        self._board.change(key, mode=SyncMode.IDLE)
        cursor = FolderCursor(origin.mailbox_id, origin.folder, 1, last_uid=uid)
        await self._board.save_cursor(cursor)
        [pending] = await asyncio.to_thread(
            self._categories.to_write_many, [(*key, 1, (str(uid),))], 500
        )
        written = [(raw_id, False) for raw_id, _ in pending]
        moved = FolderCursor(origin.mailbox_id, origin.folder, 1, last_uid=uid, highest_modseq=uid)
        await self._board.save_cursor(moved, written=written)


def measure(run: Callable[[], None], server: ServerCpu) -> tuple[float, float]:
    """CPU seconds of this process and of the database server while ``run`` runs."""
    time.sleep(0.5)  # a sample of the backends as they are before
    client, served, sampling = time.process_time(), server.seconds(), server.own()
    run()
    time.sleep(0.5)  # and after
    sampled = server.own() - sampling
    return time.process_time() - client - sampled, server.seconds() - served


def bulk(tidings: Tidings, emails: Emails, count: int) -> Callable[[], None]:
    def batches() -> Iterator[tuple[bytes, MessageOrigin]]:
        for n in range(count):
            _, raw, origin = emails.next(f"u{n % USERS}")
            yield raw, origin

    def run() -> None:
        for _ in tidings.ingest.ingest_many(batches(), batch_size=100):
            pass

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--folders", type=int, default=7)
    args = parser.parse_args()
    with organization(args.database) as (tidings, org, name):
        server = ServerCpu(name)
        try:
            for n in range(USERS):
                org.add_user(f"u{n}")
            emails = Emails(org)
            rounds = PushedRounds(tidings, org, emails, args.folders)

            async def moments(count: int) -> None:
                for _ in range(count):
                    await rounds.moment()

            asyncio.run(moments(20))  # warm: statements compiled, connections open
            count = args.rounds * args.folders
            pushed = measure(lambda: asyncio.run(moments(args.rounds)), server)
            in_bulk = measure(bulk(tidings, emails, count), server)
        finally:
            server.close()
    print(f"{count} emails on {args.database}, {args.folders} folders at each moment")
    for label, (client, served) in (("pushed, a round each", pushed), ("bulk ingest", in_bulk)):
        print(
            f"  {label:22s} this process {1000 * client / count:5.2f} ms an email,"
            f" database server {1000 * served / count:5.2f} ms"
        )
    ratio = (pushed[0] + pushed[1]) / max(1e-9, in_bulk[0] + in_bulk[1])
    print(f"  pushed / bulk, both sides: {ratio:.1f}x")


if __name__ == "__main__":
    main()
