"""Setting up mailboxes in bulk against one at a time, through the REST API, in the same run.

Creates N users with their mailboxes and sealed passwords with one ``POST
/api/mailboxes/bulk`` (a CSV file), then, as the baseline, M more the way a script did before
(``POST /api/users``, ``POST /api/mailboxes``, ``PUT /api/mailboxes/{id}/credentials`` for
each), and prints the time per mailbox of each and their ratio. Both authenticate with the
same API token, in-process (no network), on a fresh database:

    python bench/bulk_setup.py [--count 1000] [--baseline 50] [--database-url URL]

Without ``--database-url`` the database is SQLite in a temporary folder; a PostgreSQL URL
must name an empty database (``tidings db upgrade`` is run on it).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.fernet import Fernet
from fastapi.testclient import TestClient

from tidings.adapters.storage.migrate import upgrade
from tidings.bootstrap import Tidings, bootstrap
from tidings.config import Settings
from tidings.domain.people import TRACKING_ROLE
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.entrypoints.api.app import create_app

PROFILE = "Northwind IMAP"


def make_csv(start: int, count: int) -> bytes:
    out = io.StringIO()
    out.write("full_name,email,profile,password\n")
    for n in range(start, start + count):
        out.write(f"Person {n},p{n}@staff.example,{PROFILE},secret-{n}\n")
    return out.getvalue().encode()


def prepare(tidings: Tidings) -> tuple[str, int, int]:
    """An administrator's API token, the profile's id and the tracking role's id."""
    profile_id = tidings.setup.add_server_profile(
        ServerProfile(
            name=PROFILE,
            kind=ServerProfileKind.IMAP_SMTP,
            incoming_host="imap.staff.example",
            outgoing_host="smtp.staff.example",
        )
    )
    tidings.access.create_admin("Bench Admin", "admin@staff.example", "bench-password")
    caller = tidings.access.caller_for("admin@staff.example")
    token = tidings.access.create_api_token(caller, "bench").token
    with tidings.uow() as uow:
        role = uow.directory.get_role_by_name(TRACKING_ROLE)
    assert role is not None and role.id is not None
    return token, profile_id, role.id


def bulk(client: TestClient, count: int) -> float:
    data = make_csv(0, count)
    started = time.perf_counter()
    answer = client.post("/api/mailboxes/bulk", content=data, headers={"content-type": "text/csv"})
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.text
    created = sum(1 for o in answer.json()["outcomes"] if o["mailbox"] == "created")
    assert created == count, answer.text
    return elapsed


def one_at_a_time(client: TestClient, start: int, count: int, profile_id: int, role: int) -> float:
    started = time.perf_counter()
    for n in range(start, start + count):
        address = f"p{n}@staff.example"
        user = client.post(
            "/api/users", json={"full_name": f"Person {n}", "email": address, "role_ids": [role]}
        )
        assert user.status_code == 201, user.text
        mailbox = client.post(
            "/api/mailboxes",
            json={
                "address": address,
                "owner": f"user:{user.json()['id']}",
                "profile_id": profile_id,
            },
        )
        assert mailbox.status_code == 201, mailbox.text
        credentials = client.put(
            f"/api/mailboxes/{mailbox.json()['id']}/credentials",
            json={"username": address, "password": f"secret-{n}"},
        )
        assert credentials.status_code == 204, credentials.text
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=50)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = options.database_url or f"sqlite:///{Path(folder) / 'tidings.db'}"
        upgrade(url)
        tidings = bootstrap(
            Settings(database_url=url, parse_workers=0, secret_keys=Fernet.generate_key().decode())
        )
        try:
            token, profile_id, role = prepare(tidings)
            with TestClient(
                create_app(tidings), headers={"authorization": f"Bearer {token}"}
            ) as client:
                bulk_seconds = bulk(client, options.count)
                single_seconds = one_at_a_time(
                    client, options.count, options.baseline, profile_id, role
                )
        finally:
            tidings.close()
    per_bulk = bulk_seconds / options.count * 1000
    per_single = single_seconds / options.baseline * 1000
    print(f"database: {url.split(':', 1)[0]}")
    print(
        f"  bulk (POST /api/mailboxes/bulk):   {options.count:5} mailboxes in "
        f"{bulk_seconds:7.2f} s = {per_bulk:7.2f} ms per mailbox"
    )
    print(
        f"  one at a time (3 requests each):   {options.baseline:5} mailboxes in "
        f"{single_seconds:7.2f} s = {per_single:7.2f} ms per mailbox"
    )
    print(f"  bulk is {per_single / per_bulk:.0f}x faster per mailbox")


if __name__ == "__main__":
    main()
