"""First sync of a large mailbox: Tidings' rate next to mbsync copying the same mailbox.

Fills a private Dovecot mailbox with N generated business emails (``mailgen``), then times
(1) Tidings' first sync of the Inbox — fetch, keep raw bytes, decide, record — under D365's
default option "Email messages in response to email", and (2) ``mbsync`` (Debian's
``isync``) copying the same mailbox to a Maildir, in the same run.

    python bench/backfill.py [--count 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shutil
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from cryptography.fernet import Fernet

from mailgen import Correspondent, generate_mail, make_people, mean_size
from processes import cpu_seconds
from tests.builders import Org, dovecot_profile
from tests.servers.dovecot import DovecotServer
from tidings.adapters.imap.client import ImapFolderSession
from tidings.adapters.storage.migrate import upgrade
from tidings.bootstrap import bootstrap
from tidings.config import Settings
from tidings.domain.people import TrackIncoming

ADDRESS = "dana@northwind.example"
PASSWORD = "dana-pass"  # noqa: S105 - the private test server's login


def fill(server: DovecotServer, mails: list[bytes]) -> None:
    """Deliver every email over one LMTP connection."""
    with smtplib.LMTP(server.host, server.lmtp_port, timeout=60) as lmtp:
        for raw in mails:
            lmtp.sendmail("sender@bench.example", [ADDRESS], raw)


def tidings_first_sync(server: DovecotServer, folder: Path) -> tuple[float, float, int]:
    """Seconds taken, CPU seconds used (this process and its parse processes), emails."""
    url = f"sqlite:///{folder / 'tidings.db'}"
    upgrade(url)
    tidings = bootstrap(Settings(database_url=url, secret_keys=Fernet.generate_key().decode()))
    tidings.parser.warm_up()
    org = Org.create(tidings)
    with tidings.uow() as uow:  # the owner tracks D365's default: replies to tracked email
        user = uow.directory.get_user(org.users["dana"].ref.id)
        assert user is not None
        user.options.track_incoming = TrackIncoming.IN_RESPONSE
        uow.directory.save_user(user)
        uow.commit()
    org.use_profile(dovecot_profile(server), {"dana": PASSWORD})
    [target] = tidings.sync.targets()

    async def first_sync() -> int:
        session = await ImapFolderSession.open(target.profile, target.credential, "INBOX")
        try:
            return await tidings.sync.catch_up(target, session)
        finally:
            await session.close()

    start, used = time.perf_counter(), cpu_seconds(os.getpid(), python_only=True)
    count = asyncio.run(first_sync())
    elapsed, used = time.perf_counter() - start, cpu_seconds(os.getpid(), python_only=True) - used
    tidings.close()
    return elapsed, used, count


def mbsync_copy(server: DovecotServer, folder: Path) -> tuple[float, float]:
    """Seconds taken and CPU seconds used by mbsync."""
    maildir = folder / "mbsync-maildir"
    maildir.mkdir()
    config = folder / "mbsyncrc"
    config.write_text(
        f"""IMAPAccount bench
Host localhost
Port {server.imaps_port}
User {ADDRESS}
Pass {PASSWORD}
SSLType IMAPS
CertificateFile {server.ca_file}

IMAPStore remote
Account bench

MaildirStore local
Path {maildir}/
Inbox {maildir}/INBOX

Channel bench
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
"""
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(["mbsync", "-c", str(config), "bench"], capture_output=True, text=True)  # noqa: S603, S607
    if done.returncode != 0:
        raise SystemExit(f"mbsync failed: {done.stderr or done.stdout}")
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    args = parser.parse_args()
    if shutil.which("mbsync") is None:
        raise SystemExit("mbsync is missing: apt-get install isync")
    contacts, strangers = make_people(400, 400)
    owner = Correspondent("Dana Reyes", ADDRESS)
    mails = generate_mail(args.count, owner=owner, crm_contacts=contacts, strangers=strangers)
    print(f"{len(mails)} emails, mean {mean_size(mails) / 1024:.1f} KB")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with DovecotServer(folder / "dovecot", {ADDRESS: PASSWORD}) as server:
            started = time.perf_counter()
            fill(server, mails)
            print(f"delivered by LMTP in {time.perf_counter() - started:.1f} s")
            mbsync_seconds, mbsync_cpu = mbsync_copy(server, folder)
            ours_seconds, ours_cpu, count = tidings_first_sync(server, folder)
    ours, theirs = count / ours_seconds, len(mails) / mbsync_seconds
    print(
        f"  mbsync to a Maildir:            {theirs:7.0f} msgs/s ({mbsync_seconds:.1f} s, "
        f"CPU {mbsync_cpu * 1000 / len(mails):.2f} ms/email)"
    )
    print(
        f"  tidings first sync (ingested):  {ours:7.0f} msgs/s ({ours_seconds:.1f} s, "
        f"CPU {ours_cpu * 1000 / max(count, 1):.2f} ms/email with its parse processes)"
    )
    verdict = "meets" if ours >= theirs else "MISSES"
    print(f"  ratio {ours / theirs:.2f}x  (target >= 1.0x: {verdict})")


if __name__ == "__main__":
    main()
