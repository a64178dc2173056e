"""Ingest throughput against the standard library's own parse rate, in the same run.

Generates realistic business email (see ``mailgen``), then ingests it through the real
``IngestService`` (``ingest_many``, batches of 100, parsing on every core as ``tidings
ingest`` does) into a fresh SQLite database, once with the owner's option "All email
messages" (everything tracked) and once with D365's default "Email messages in response to
email" (most of it not tracked). Each rate is printed next to
``email.message_from_bytes(raw, policy=policy.default)`` over the same bytes, on one core,
in the same run.

    python bench/ingest.py [--count 10000]
"""

from __future__ import annotations

import argparse
import email
import sys
import tempfile
import time
from collections import Counter
from email import policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mailgen import Correspondent, generate_mail, make_people, mean_size
from tidings.adapters.storage.migrate import upgrade
from tidings.bootstrap import bootstrap
from tidings.config import Settings
from tidings.domain.activity import (
    ActivityStatus,
    Direction,
    EmailActivity,
)
from tidings.domain.mailbox import Mailbox, TestStatus
from tidings.domain.message import MessageOrigin
from tidings.domain.people import (
    TRACKING_ROLE,
    PersonalOptions,
    TrackIncoming,
    User,
    standard_roles,
)
from tidings.domain.records import Contact
from tidings.domain.settings import EmailConfiguration

OWNER = Correspondent("Dana Reyes", "dana@northwind.example")
TRACKED_IDS = 500


def stdlib_rate(mails: list[bytes]) -> float:
    """Messages per second of the standard library's full parse."""
    start = time.perf_counter()
    for raw in mails:
        email.message_from_bytes(raw, policy=policy.default)
    return len(mails) / (time.perf_counter() - start)


def prepare(folder: Path, option: TrackIncoming, contacts: list[Correspondent]) -> str:
    """A migrated SQLite database with the owner, the CRM contacts and tracked email."""
    url = f"sqlite:///{folder / f'{option.name.lower()}.db'}"
    upgrade(url)
    tidings = bootstrap(Settings(database_url=url))
    with tidings.uow() as uow:
        uow.settings.save(EmailConfiguration())
        roles = {r.name: uow.directory.add_role(r) for r in standard_roles()}
        owner = User(
            OWNER.name, OWNER.address, frozenset({roles[TRACKING_ROLE]}), PersonalOptions(option)
        )
        uow.directory.add_user(owner)
        mailbox = Mailbox(OWNER.address, owner.ref)
        mailbox.approve_email()
        mailbox.record_test(incoming=TestStatus.SUCCESS, outgoing=TestStatus.SUCCESS, alerts=[])
        uow.mailboxes.add(mailbox)
        for person in contacts:
            uow.directory.add_contact(Contact(person.name, (person.address,)))
        now = tidings.clock.now()
        for number in range(TRACKED_IDS):
            message_id = tracked_id(number)
            uow.activities.add(
                EmailActivity(
                    owner=owner.ref,
                    mailbox_id=mailbox.id,
                    subject=f"Offer {number}",
                    direction=Direction.OUTGOING,
                    status=ActivityStatus.SENT,
                    message_id=message_id,
                    received_at=now,
                    created_at=now,
                ),
                message_id,
            )
        uow.commit()
    tidings.close()
    return url


def tracked_id(number: int) -> str:
    return f"<offer-{number}@northwind.example>"


def ingest_rate(url: str, mails: list[bytes], batch: int) -> tuple[float, Counter[str]]:
    """Messages per second through the real ingest service, and the outcomes."""
    tidings = bootstrap(Settings(database_url=url))
    outcomes: Counter[str] = Counter()
    items = [(raw, MessageOrigin(1, "INBOX", 1, str(uid))) for uid, raw in enumerate(mails, 1)]
    # Worker processes start once per process, not once per email: keep that out of the rate.
    tidings.parser.warm_up()
    start = time.perf_counter()
    for result in tidings.ingest.ingest_many(items, batch):
        outcomes[result.outcome.value] += 1
    elapsed = time.perf_counter() - start
    tidings.close()
    return len(mails) / elapsed, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100, help="emails per ingest batch")
    args = parser.parse_args()
    contacts, strangers = make_people(400, 400)
    started = time.perf_counter()
    mails = generate_mail(
        args.count,
        owner=OWNER,
        crm_contacts=contacts,
        strangers=strangers,
        reply_to_message_ids=[tracked_id(n) for n in range(TRACKED_IDS)],
    )
    print(
        f"generated {len(mails)} emails, mean {mean_size(mails) / 1024:.1f} KB, "
        f"in {time.perf_counter() - started:.1f} s"
    )
    targets = {TrackIncoming.ALL: 1.0, TrackIncoming.IN_RESPONSE: 3.0}
    with tempfile.TemporaryDirectory() as tmp:
        for option, target in targets.items():
            url = prepare(Path(tmp), option, contacts)
            baseline = stdlib_rate(mails)
            rate, outcomes = ingest_rate(url, mails, args.batch)
            ratio = rate / baseline
            verdict = "meets" if ratio >= target else "MISSES"
            print(f"\noption '{option.label}': {dict(outcomes)}")
            print(f"  stdlib message_from_bytes(policy=default): {baseline:8.0f} msgs/s")
            print(f"  tidings ingest (SQLite):                   {rate:8.0f} msgs/s")
            print(f"  ratio {ratio:.2f}x  (target >= {target:.1f}x: {verdict})")


if __name__ == "__main__":
    main()
