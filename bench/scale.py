"""One ``tidings worker`` holding 1,000 mailboxes, against a bare IDLE client on the same ones.

Starts a private Dovecot sized for the run, reached by plain IMAP (``--tls``: over TLS,
where asyncio holds a 256 KB buffer per connection, Tidings' and the bare client's alike),
with its IDLE keepalive (``* OK Still here``) every ``--notify`` seconds instead of
Dovecot's two minutes, so that the idle window spans several keepalive cycles; creates the
users and mailboxes in one bulk import
(``MailboxImportService``), and runs, in the same run:

(a) idle: the worker process (with its parse processes) holding every Inbox in IDLE, beside
    ``bench/idle_floor.py``, a bare asyncio client holding the same sessions: resident memory
    of each process tree, and CPU over ``--seconds`` doing nothing;
(b) load: ``--rate`` emails a second delivered by LMTP to random mailboxes for ``--seconds``:
    delivery → activity committed (seen by polling the database), beside delivery → EXISTS
    as the bare client saw the same deliveries;
(c) throughput, on PostgreSQL: mailboxes filled beforehand (Maildir files) and first-synced
    by 1, then 2 worker processes on fresh databases: emails ingested a second, beside a
    bare client fetching the same messages; and how many sessions each mailbox got.

    python bench/scale.py [--mailboxes 1000] [--rate 100] [--seconds 60]
                          [--database sqlite|postgresql] [--parts idle,load,throughput]
                          [--notify 15] [--per-mailbox 10] [--tls]

Targets: memory (worker and its children) ≤ 3× the bare client's; idle CPU ≤ 2 % of a core;
p99 at 100 emails/s ≤ the bare client's p99 + 0.25 s.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import signal
import smtplib
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text

from latency import check_inotify
from processes import cpu_seconds, machine_busy, machine_ticks, proportional_mb, resident_mb
from tests.builders import Org, dovecot_profile, make_email
from tests.servers.dovecot import DovecotServer
from tidings.adapters.storage.migrate import upgrade
from tidings.bootstrap import bootstrap
from tidings.config import Settings
from tidings.domain.mailbox import TestStatus
from tidings.domain.people import Caller, Privilege, TrackIncoming
from tidings.domain.server_profile import ConnectionSecurity
from tidings.services.import_formats import ImportFormat

TIDINGS = Path(sys.executable).with_name("tidings")
FLOOR = Path(__file__).with_name("idle_floor.py")
POSTGRES = os.environ.get("TIDINGS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
DOMAIN = "northwind.example"
#: LMTP connections delivering at once.
SENDERS = 4
MEMORY_RATIO, IDLE_CPU, P99_MARGIN = 3.0, 2.0, 0.25


# -- processes ---------------------------------------------------------------------------------


def settle(pid: int, window: float = 5.0, calm: float = 5.0, limit: float = 300.0) -> float:
    """Wait until the process tree uses under ``calm`` % of a core over ``window`` seconds
    (a folder is marked idle before its first flag round ends); the seconds waited."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        used = cpu_seconds(pid)
        time.sleep(window)
        if (cpu_seconds(pid) - used) / window * 100 < calm:
            break
    return time.monotonic() - began


def quiet_machine(url: str, window: float = 5.0, busy: float = 0.25, limit: float = 180.0) -> str:
    """Before a measured part: a PostgreSQL checkpoint now (not during the part: the last
    run's dropped database and this one's set-up leave dirty pages to flush), then wait
    until the whole machine is under ``busy`` over ``window`` seconds. Back to back runs
    otherwise measured the one before's aftermath: the second of a pair was up to 3 s worse
    at p99, whichever version it ran. What was found, to print."""
    if url.startswith("postgresql"):
        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute("CHECKPOINT")
    began = time.monotonic()
    share = 1.0
    while time.monotonic() - began < limit:
        before = machine_ticks()
        time.sleep(window)
        share = machine_busy(before, machine_ticks())
        if share < busy:
            break
    return f"machine {share:.0%} busy after {time.monotonic() - began:.0f} s"


@contextmanager
def started(command: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(  # noqa: S603 - the worker command of this venv
        command,
        env={**os.environ, **env},
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=(cwd / f"{Path(command[1]).name}-{len(os.listdir(cwd))}.log").open("w"),
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def worker_command() -> list[str]:
    return [str(TIDINGS), "worker"]


# -- setting up --------------------------------------------------------------------------------


@dataclass
class Database:
    url: str
    name: str | None = None  # PostgreSQL: dropped at the end

    def drop(self) -> None:
        if self.name is not None:
            with psycopg.connect(POSTGRES, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')  # type: ignore[arg-type]


def new_database(kind: str, folder: Path, label: str) -> Database:
    if kind == "sqlite":
        return Database(f"sqlite:///{folder / f'{label}.db'}")
    name = f"bench12_scale_{label}_{os.getpid()}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return Database(f"{base}/{name}", name)


def users_of(prefix: str, count: int) -> dict[str, str]:
    return {f"{prefix}{n}@{DOMAIN}": f"{prefix}{n}-pass" for n in range(count)}


def prepare(
    url: str, server: DovecotServer, users: dict[str, str], key: str, *, tls: bool
) -> float:
    """Users and enabled mailboxes for ``users`` through one bulk import; its seconds."""
    upgrade(url)
    tidings = bootstrap(Settings(database_url=url, parse_workers=0, secret_keys=key))
    try:
        org = Org.create(tidings)
        profile = replace(
            dovecot_profile(server), name="Bench", max_concurrent_connections=len(users)
        )
        if not tls:
            profile = replace(
                profile,
                incoming_port=server.imap_port,
                incoming_security=ConnectionSecurity.NONE,
            )
        with tidings.uow() as uow:
            uow.server_profiles.add(profile)
            uow.commit()
        rows = "".join(
            f"{a.split('@')[0]},{a},Bench,{p},{TrackIncoming.ALL.value}\n" for a, p in users.items()
        )
        csv = f"full_name,email,profile,password,track_incoming\n{rows}".encode()
        admin = Caller(org.users["dana"], frozenset(Privilege))
        began = time.perf_counter()
        report = tidings.mailbox_import.import_mailboxes(admin, io.BytesIO(csv), ImportFormat.CSV)
        assert report.committed and not report.problems, report.problems[:3]
        # What an admin does next: approve the addresses, Test & Enable (recorded, not run).
        with tidings.uow() as uow:
            for outcome in report.outcomes:
                assert outcome.mailbox_id is not None
                mailbox = uow.mailboxes.get(outcome.mailbox_id)
                assert mailbox is not None
                mailbox.approve_email()
                mailbox.record_test(
                    incoming=TestStatus.SUCCESS, outgoing=TestStatus.SUCCESS, alerts=[]
                )
                uow.mailboxes.save(mailbox)
            uow.commit()
        return time.perf_counter() - began
    finally:
        tidings.close()


def fill_maildirs(server: DovecotServer, users: dict[str, str], per_mailbox: int) -> int:
    """Write ``per_mailbox`` new emails straight into each Maildir (before ``start``)."""
    count = 0
    for address in users:
        name = address.split("@")[0]
        folder = server.mail_dir / DOMAIN / name / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        for n in range(per_mailbox):
            raw = make_email(
                to=address, subject=f"Filled {n}", message_id=f"<fill-{name}-{n}@bench.example>"
            )
            (folder / "new" / f"{1700000000 + n}.M{n}P{count}.bench").write_bytes(raw)
            count += 1
    return count


class Waiting:
    """Reads the worker's progress from the database it writes."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def scalar(self, statement: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(statement)).scalar() or 0)

    def until(self, statement: str, wanted: int, timeout: float, what: str) -> float:
        began = time.monotonic()
        while (found := self.scalar(statement)) < wanted:
            if time.monotonic() - began > timeout:
                raise SystemExit(f"{what}: {found} of {wanted} after {timeout:.0f} s")
            time.sleep(0.5)
        return time.monotonic() - began

    def close(self) -> None:
        self.engine.dispose()


DECIDED = "SELECT count(*) FROM tracking_decisions"
IDLE_FOLDERS = "SELECT count(*) FROM folder_sync_states WHERE mode = 'idle'"


# -- (a) idle and (b) load ---------------------------------------------------------------------


def start_floor(
    server: DovecotServer, users: dict[str, str], folder: Path, *, tls: bool
) -> tuple[subprocess.Popen[str], Path]:
    users_file, out_file = folder / "floor-users.txt", folder / "floor-out.json"
    users_file.write_text("".join(f"{a} {p}\n" for a, p in users.items()))
    port, ca = (server.imaps_port, str(server.ca_file)) if tls else (server.imap_port, "-")
    command = [sys.executable, str(FLOOR), str(port), ca]
    process = subprocess.Popen(  # noqa: S603 - bench/idle_floor.py
        [*command, str(users_file), str(out_file)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        raise SystemExit("the bare IDLE client did not get every session idling")
    return process, out_file


def floor_arrivals(process: subprocess.Popen[str], out_file: Path) -> dict[str, object]:
    process.send_signal(signal.SIGTERM)
    process.wait(60)
    return dict(json.loads(out_file.read_text()))


def measure_idle(worker: int, floor: int, seconds: float) -> dict[str, float]:
    """CPU % of a core of each process tree over ``seconds`` of nothing arriving, and the
    highest resident memory seen meanwhile."""
    began = time.monotonic()
    cpu = {"worker": cpu_seconds(worker), "floor": cpu_seconds(floor)}
    peak = dict.fromkeys(("worker", "floor", "worker_pss", "floor_pss"), 0.0)
    while time.monotonic() - began < seconds:
        peak = {
            "worker": max(peak["worker"], resident_mb(worker)),
            "floor": max(peak["floor"], resident_mb(floor)),
            "worker_pss": max(peak["worker_pss"], proportional_mb(worker)),
            "floor_pss": max(peak["floor_pss"], proportional_mb(floor)),
        }
        time.sleep(1)
    wall = time.monotonic() - began
    return {
        "worker_cpu": (cpu_seconds(worker) - cpu["worker"]) / wall * 100,
        "floor_cpu": (cpu_seconds(floor) - cpu["floor"]) / wall * 100,
        "worker_mb": peak["worker"],
        "floor_mb": peak["floor"],
        "worker_pss": peak["worker_pss"],
        "floor_pss": peak["floor_pss"],
    }


class ActivityWatch:
    """When each Message-ID's activity was first seen committed, polling every 20 ms."""

    def __init__(self, waiting: Waiting) -> None:
        self.seen: dict[str, float] = {}
        self._waiting = waiting
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    #: Ids below the highest seen that are looked for again: an id is taken when its
    #: transaction inserts and shows when it commits, so transactions side by side (two
    #: ingest lanes, two workers) commit out of id order.
    BEHIND = 1000

    def _poll(self) -> None:
        last = 0
        ids: set[int] = set()
        query = text("SELECT id, message_id FROM email_activities WHERE id > :after ORDER BY id")
        with self._waiting.engine.connect() as connection:
            while not self._stop.is_set():
                rows = connection.execute(query, {"after": max(0, last - self.BEHIND)}).all()
                connection.rollback()  # a fresh snapshot each time
                now = time.time()
                for row in rows:
                    if row.id not in ids:
                        ids.add(row.id)
                        self.seen.setdefault(row.message_id or "", now)
                    last = max(last, row.id)
                time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)


def deliver(
    server: DovecotServer, users: dict[str, str], rate: float, seconds: float, seed: int
) -> list[tuple[str, str, float]]:
    """LMTP deliveries at ``rate`` a second to random mailboxes, by ``SENDERS`` connections
    taking them in turn (one alone falls behind 100 a second on a loaded machine):
    (Message-ID, address, when the delivery completed)."""
    rng = random.Random(seed)
    addresses = list(users)
    planned = []
    for number in range(int(rate * seconds)):
        address = rng.choice(addresses)
        message_id = f"<scale-{number}@bench.example>"
        raw = make_email(to=address, subject=f"Scale {number}", message_id=message_id)
        planned.append((number, address, message_id, raw))
    done: list[tuple[str, str, float]] = []
    began = time.monotonic()

    def send(share: list[tuple[int, str, str, bytes]]) -> None:
        with smtplib.LMTP(server.host, server.lmtp_port, timeout=60) as lmtp:
            for number, address, message_id, raw in share:
                pause = began + number / rate - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                lmtp.sendmail("sender@tidings.test", [address], raw)
                done.append((message_id, address, time.time()))

    senders = [threading.Thread(target=send, args=(planned[n::SENDERS],)) for n in range(SENDERS)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    late = time.monotonic() - began - seconds
    if late > 1:
        print(f"  note: the deliveries ran {late:.1f} s behind their schedule")
    return done


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return (
        ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")
    )


def idle_and_load(args: argparse.Namespace, folder: Path) -> None:
    users = users_of("user", args.mailboxes)
    key = Fernet.generate_key().decode()
    with DovecotServer(
        folder / "dovecot",
        users,
        idle_notify_seconds=args.notify,
        max_connections=2 * args.mailboxes + 50,
    ) as server:
        database = new_database(args.database, folder, "idle")
        floor: subprocess.Popen[str] | None = None
        try:
            setup = prepare(database.url, server, users, key, tls=args.tls)
            print(f"  bulk import of {args.mailboxes} users and mailboxes: {setup:.1f} s")
            floor, floor_out = start_floor(server, users, folder, tls=args.tls)
            env = {"TIDINGS_DATABASE_URL": database.url, "TIDINGS_SECRET_KEYS": key}
            waiting = Waiting(database.url)
            with started(worker_command(), env, folder) as worker:
                ready = waiting.until(IDLE_FOLDERS, args.mailboxes, 600, "folders in IDLE")
                print(f"  worker: every Inbox in IDLE {ready:.1f} s after it started")
                calmed = settle(worker.pid)
                print(f"  worker: quiet {calmed:.0f} s later (under 5 % of a core)")
                if "idle" in args.parts:
                    report_idle(measure_idle(worker.pid, floor.pid, args.seconds), args)
                if "load" in args.parts:
                    print(f"  before delivery: {quiet_machine(database.url)}")
                    watch = ActivityWatch(waiting)
                    used = cpu_seconds(worker.pid)
                    sent = deliver(server, users, args.rate, args.seconds, args.seed)
                    deadline = time.monotonic() + max(120, args.seconds)
                    while len(watch.seen) < len(sent) and time.monotonic() < deadline:
                        time.sleep(0.2)
                    worker_ms = (cpu_seconds(worker.pid) - used) * 1000 / max(1, len(sent))
                    watch.stop()
                    time.sleep(1)
                    floor_seen = floor_arrivals(floor, floor_out)
                    report_load(sent, watch.seen, floor_seen, args)
                    print(f"  worker CPU per email (with its children): {worker_ms:.1f} ms")
            waiting.close()
        finally:
            if floor is not None and floor.poll() is None:
                floor.kill()
            database.drop()


def report_idle(figures: dict[str, float], args: argparse.Namespace) -> None:
    ratio = figures["worker_mb"] / figures["floor_mb"]
    print(
        f"(a) idle, {args.mailboxes} mailboxes, {args.seconds:.0f} s with IDLE keepalives every "
        f"{args.notify} s (load {os.getloadavg()[0]:.1f})"
    )
    print(
        f"  RSS     tidings worker + children {figures['worker_mb']:7.1f} MB   "
        f"bare client {figures['floor_mb']:6.1f} MB   ratio {ratio:4.1f}x "
        f"(target <= {MEMORY_RATIO:.0f}x)"
    )
    pss_ratio = figures["worker_pss"] / figures["floor_pss"]
    print(
        f"  PSS     tidings worker + children {figures['worker_pss']:7.1f} MB   "
        f"bare client {figures['floor_pss']:6.1f} MB   ratio {pss_ratio:4.1f}x"
    )
    print(
        f"  CPU     tidings worker + children {figures['worker_cpu']:6.2f} %    "
        f"bare client {figures['floor_cpu']:5.2f} %    (target <= {IDLE_CPU:.0f} % of a core)"
    )


def report_load(
    sent: list[tuple[str, str, float]],
    seen: dict[str, float],
    floor: dict[str, object],
    args: argparse.Namespace,
) -> None:
    arrivals: dict[str, list[float]] = floor["arrivals"]  # type: ignore[assignment]
    ours = [seen[m] - at for m, _, at in sent if m in seen]
    # The bare client sees each Inbox's count grow: its n-th EXISTS is the n-th delivery
    # completed there.
    bare: list[float] = []
    by_box: dict[str, list[float]] = {}
    for _, address, at in sorted(sent, key=lambda d: d[2]):
        by_box.setdefault(address, []).append(at)
    for address, times in by_box.items():
        bare += [exists - at for at, exists in zip(times, arrivals.get(address, []), strict=False)]
    print(
        f"(b) {args.rate:.0f} emails/s for {args.seconds:.0f} s across {args.mailboxes} "
        f"mailboxes, {args.database} (load {os.getloadavg()[0]:.1f}); "
        f"{len(ours)} of {len(sent)} tracked"
    )
    for label, samples in (
        ("tidings delivery -> activity committed", ours),
        ("bare client delivery -> EXISTS       ", bare),
    ):
        print(
            f"  {label}  p50 {percentile(samples, 0.5) * 1000:7.0f} ms  "
            f"p99 {percentile(samples, 0.99) * 1000:7.0f} ms  "
            f"max {max(samples, default=0) * 1000:7.0f} ms"
        )
    margin = percentile(ours, 0.99) - percentile(bare, 0.99)
    print(f"  p99 above the bare client's: {margin:.2f} s (target <= {P99_MARGIN} s)")


# -- (c) throughput ----------------------------------------------------------------------------


async def bare_fetch(
    server: DovecotServer, users: dict[str, str], *, tls: bool, at_once: int = 20
) -> float:
    """Seconds a bare client takes to fetch every message of every Inbox, ``at_once``
    mailboxes at a time."""
    context = ssl.create_default_context(cafile=str(server.ca_file)) if tls else None
    port = server.imaps_port if tls else server.imap_port
    gate = asyncio.Semaphore(at_once)

    async def one(address: str, password: str) -> None:
        async with gate:
            reader, writer = await asyncio.open_connection(
                server.host, port, ssl=context, limit=1 << 24
            )
            await reader.readline()
            for tag, line in (
                (b"a", f'LOGIN "{address}" "{password}"'),
                (b"b", "SELECT INBOX"),
                (b"c", "UID FETCH 1:* (UID INTERNALDATE BODY.PEEK[])"),
                (b"d", "LOGOUT"),
            ):
                writer.write(tag + b" " + line.encode() + b"\r\n")
                while not (await reader.readline()).startswith(tag + b" "):
                    pass
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(one(a, p) for a, p in users.items()))
    return time.perf_counter() - began


def sessions_per_user(server: DovecotServer) -> dict[str, int]:
    """Open IMAP sessions of each user, as Dovecot counts them."""
    counts: dict[str, int] = {}
    for line in server.doveadm("who").splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 3 and parts[2] == "imap":
            counts[parts[0]] = counts.get(parts[0], 0) + int(parts[1])
    return counts


def throughput(args: argparse.Namespace, folder: Path) -> None:
    # Each run gets mailboxes of its own, filled alike: a run writes the tracked category on
    # what it tracks, and a second run on the same mailboxes would find every email marked.
    runs = {workers: users_of(f"fill{workers}-", args.mailboxes) for workers in (1, 2)}
    every = {address: password for users in runs.values() for address, password in users.items()}
    server = DovecotServer(folder / "filled", every, max_connections=2 * args.mailboxes + 50)
    emails = fill_maildirs(server, runs[1], args.per_mailbox)
    fill_maildirs(server, runs[2], args.per_mailbox)
    key = Fernet.generate_key().decode()
    print(
        f"(c) first sync of {emails} emails in {args.mailboxes} mailboxes, PostgreSQL "
        f"(load {os.getloadavg()[0]:.1f})"
    )
    with server:
        # The first reads build Dovecot's indexes; the floor is measured on warm ones.
        for users in runs.values():
            asyncio.run(bare_fetch(server, users, tls=args.tls))
        floor = asyncio.run(bare_fetch(server, runs[1], tls=args.tls))
        print(
            f"  bare client fetching them all (20 sessions at once): {emails / floor:7.0f} emails/s"
        )
        for workers in (1, 2):
            database = new_database("postgresql", folder, f"w{workers}")
            try:
                prepare(database.url, server, runs[workers], key, tls=args.tls)
                env = {"TIDINGS_DATABASE_URL": database.url, "TIDINGS_SECRET_KEYS": key}
                waiting = Waiting(database.url)
                logs_before = set(folder.glob("worker-*.log"))
                with contextlib_stack(workers, env, folder) as processes:
                    began, first = time.monotonic(), None
                    used_at_first = 0.0
                    machine_at_first = machine_ticks()
                    while (done := waiting.scalar(DECIDED)) < emails:
                        if first is None and done:
                            first = (time.monotonic(), done)
                            used_at_first = sum(cpu_seconds(p.pid) for p in processes)
                            machine_at_first = machine_ticks()
                        if time.monotonic() - began > 1800:
                            raise SystemExit(f"{done} of {emails} emails decided after 30 min")
                        time.sleep(0.2)
                    ended = time.monotonic()
                    used = sum(cpu_seconds(p.pid) for p in processes) - used_at_first
                    busy = machine_busy(machine_at_first, machine_ticks())
                    waiting.until(IDLE_FOLDERS, args.mailboxes, 600, "folders in IDLE")
                    time.sleep(2)
                    sessions = {
                        user: count
                        for user, count in sessions_per_user(server).items()
                        if user in runs[workers]
                    }
                    raw = waiting.scalar("SELECT count(*) FROM raw_messages")
                waiting.close()
            finally:
                database.drop()
            logs = set(folder.glob("worker-*.log")) - logs_before
            texts = [log.read_text() for log in logs]
            moved = sum(text.count("handed back") for text in texts)
            each = sorted((text.count(" held by ") for text in texts), reverse=True)
            taken = sum(each)
            held = sorted(sessions.values())
            shared = (
                "each mailbox held by one worker"
                if held and held[-1] == 1
                else (
                    f"mailboxes held by up to {held[-1] if held else 0} sessions: "
                    f"the workers do not share the mailboxes, each takes every one"
                )
            )
            first_at, first_done = first or (began, 0)
            rate = (emails - first_done) / max(ended - first_at, 1e-3)
            print(
                f"  {workers} worker(s): {rate:7.0f} emails/s once ingesting "
                f"({rate / (emails / floor):.2f}x the bare fetch), all in {ended - began:.1f} s "
                f"from the start; {raw} raw emails stored; {shared}; the workers and their "
                f"parse processes used {1000 * used / max(emails - first_done, 1):.2f} ms of CPU "
                f"an email; mailboxes taken {taken} times "
                f"({' + '.join(map(str, each))} by each worker), {moved} handed back; "
                f"the machine's {os.cpu_count()} cores were {busy:.0%} busy"
            )


@contextmanager
def contextlib_stack(
    workers: int, env: dict[str, str], folder: Path
) -> Iterator[list[subprocess.Popen[str]]]:
    """``workers`` worker processes, stopped (SIGTERM) on leaving."""
    if workers == 0:
        yield []
        return
    with (
        started(worker_command(), env, folder) as process,
        contextlib_stack(workers - 1, env, folder) as others,
    ):
        yield [process, *others]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--parts", default="idle,load,throughput")
    parser.add_argument("--notify", type=int, default=15, help="IDLE keepalive interval, s")
    parser.add_argument("--per-mailbox", type=int, default=10, help="emails to first-sync")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--tls",
        action="store_true",
        help="IMAP over TLS for Tidings and the bare client (asyncio keeps a 256 KB buffer "
        "per TLS connection, the same for both); plain IMAP by default",
    )
    args = parser.parse_args()
    args.parts = set(args.parts.split(","))
    print(
        f"{args.mailboxes} mailboxes, IMAP {'over TLS' if args.tls else 'plain'}; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    check_inotify(args.mailboxes)
    with tempfile.TemporaryDirectory(prefix="scale-", dir="/tmp") as tmp:
        if args.parts & {"idle", "load"}:
            idle_and_load(args, Path(tmp))
        if "throughput" in args.parts:
            throughput(args, Path(tmp))


if __name__ == "__main__":
    main()
