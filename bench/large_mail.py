"""First sync of a folder of large emails (scans, signed PDFs): the memory it takes.

Fills a private Dovecot Inbox with N emails of about SIZE MB each, then runs Tidings' first
sync of it twice, each in a fresh process: with chunks bounded in bytes (``CHUNK_BYTES``,
as shipped) and, as the baseline, with chunks of a hundred emails whatever their size (as
before the bound). Prints each run's peak RSS (the sync process, and the largest of its
parse processes) and its rate.

    python bench/large_mail.py [--count 150] [--size 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import smtplib
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ADDRESS = "dana@northwind.example"
PASSWORD = "dana-pass"  # noqa: S105 - the private test server's login
#: A bound no folder reaches: chunks then hold a hundred emails, whatever their size.
UNBOUNDED = 1 << 62


def large_email(n: int, size: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Scanner <scanner@contoso.example>"
    message["To"] = ADDRESS
    message["Subject"] = f"Scan {n}"
    message["Message-ID"] = f"<scan-{n}@contoso.example>"
    message.set_content(f"Scan {n} attached.\n")
    # Random bytes: a scan compresses no better than that.
    payload = (n.to_bytes(4, "big") * (size // 4 + 1))[:size]
    payload = bytes((b * 131 + i) & 0xFF for i, b in enumerate(payload))
    message.add_attachment(payload, maintype="application", subtype="pdf", filename=f"{n}.pdf")
    return message.as_bytes()


def child(port: int, ca_file: str, chunk_bytes: int, folder: str) -> None:
    """One first sync in this process; prints what it took as JSON."""
    from cryptography.fernet import Fernet

    from tests.builders import Org
    from tidings.adapters.imap.client import ImapFolderSession
    from tidings.adapters.storage.migrate import upgrade
    from tidings.bootstrap import bootstrap
    from tidings.config import Settings
    from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind
    from tidings.services.sync import SyncService

    url = f"sqlite:///{Path(folder) / f'tidings-{chunk_bytes}.db'}"
    upgrade(url)
    tidings = bootstrap(Settings(database_url=url, secret_keys=Fernet.generate_key().decode()))
    tidings.parser.warm_up()
    org = Org.create(tidings)
    profile = ServerProfile(
        name="Dovecot",
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="127.0.0.1",
        incoming_port=port,
        incoming_security=ConnectionSecurity.TLS,
        options={"ca_file": ca_file},
    )
    org.use_profile(profile, {"dana": PASSWORD})
    sync = SyncService(
        tidings.uow,
        tidings.ingest,
        tidings.secrets,
        ImapFolderSession.open,
        tidings.clock,
        chunk_bytes=chunk_bytes,
    )
    [target] = sync.targets()

    async def first_sync() -> int:
        session = await ImapFolderSession.open(target.profile, target.credential, "INBOX")
        try:
            return await sync.catch_up(target, session)
        finally:
            await session.close()

    start = time.perf_counter()
    count = asyncio.run(first_sync())
    elapsed = time.perf_counter() - start
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tidings.close()  # the parse processes end, and count among the children
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"count": count, "seconds": elapsed, "rss_kb": own, "child_kb": children}))


def run_child(port: int, ca_file: str, chunk_bytes: int, folder: Path) -> dict[str, float]:
    done = subprocess.run(  # noqa: S603 - this script, with its own arguments
        [
            sys.executable,
            __file__,
            "--child",
            str(chunk_bytes),
            "--port",
            str(port),
            "--ca-file",
            ca_file,
            "--folder",
            str(folder),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the sync process failed:\n{done.stderr[-3000:]}")
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--size", type=float, default=2.0, help="MB of attachment an email")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ca-file", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.port, args.ca_file, args.child, args.folder)
        return

    from tests.servers.dovecot import DovecotServer
    from tidings.services.sync.catch_up import CHUNK_BYTES

    mails = [large_email(n, int(args.size * 1024 * 1024)) for n in range(args.count)]
    total = sum(len(m) for m in mails)
    print(f"{len(mails)} emails, {total / len(mails) / 1e6:.1f} MB each, {total / 1e6:.0f} MB")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with DovecotServer(folder / "dovecot", {ADDRESS: PASSWORD}) as server:
            with smtplib.LMTP(server.host, server.lmtp_port, timeout=120) as lmtp:
                for raw in mails:
                    lmtp.sendmail("sender@bench.example", [ADDRESS], raw)
            runs = {
                "chunks of 100 emails (baseline)": UNBOUNDED,
                f"chunks of at most {CHUNK_BYTES / 1024 / 1024:.0f} MB": CHUNK_BYTES,
            }
            results = {
                name: run_child(server.imaps_port, str(server.ca_file), bound, folder)
                for name, bound in runs.items()
            }
    for name, result in results.items():
        rate = result["count"] / result["seconds"]
        print(
            f"  {name:34} peak RSS {result['rss_kb'] / 1024:7.0f} MB "
            f"(a parse process {result['child_kb'] / 1024:5.0f} MB), "
            f"{rate:5.1f} emails/s, {result['count']:.0f} ingested"
        )
    baseline, bounded = results.values()
    print(f"  peak RSS ratio {bounded['rss_kb'] / baseline['rss_kb']:.2f}x the baseline")


if __name__ == "__main__":
    main()
