"""What a flag round's look for email that lacks the tracked category costs, by folder size.

Reading an email changes its flags (``\\Seen``), and the folder's next round reads that
change. The round then looks for tracked email that lacks the category: at the whole folder
(a read of each of its emails) at most once a ``LOOK_WHOLE_SECONDS``, else at its own change
and new mail only. This fills one folder each of ``--sizes`` emails, all tracked with the
category written, and runs the storage work of such a round (``CategoryTracking.settle``:
the read state kept, then the look) through the real services, with no mail server, both
ways: the whole look beside the round's own look, as the baseline, in the same run.

    python bench/flag_round.py [--database postgresql|sqlite] [--sizes 100,1000,10000]
                               [--rounds 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pushed_storage import organization
from sqlalchemy import text

from tests.builders import Org, make_email
from tidings.bootstrap import Tidings
from tidings.domain.message import MessageOrigin
from tidings.services.category_tracking import CategoryState, CategoryTracking


def fill(tidings: Tidings, org: Org, user: str, size: int) -> int:
    """Ingest ``size`` emails into the user's Inbox (UIDs 1…size), the category written on
    each one tracked; returns the mailbox id."""
    mailbox_id = org.mailboxes[user]

    def emails() -> Iterator[tuple[bytes, MessageOrigin]]:
        for uid in range(1, size + 1):
            raw = make_email(subject=f"Email {uid}", message_id=f"<{user}.{uid}@b.example>")
            yield raw, MessageOrigin(mailbox_id, "INBOX", 1, str(uid))

    tracked = [r.raw_message_id for r in tidings.ingest.ingest_many(emails()) if r.activity_id]
    CategoryTracking(tidings.uow, tidings.clock).record_written([(i, False) for i in tracked])
    if tidings.engine.dialect.name == "postgresql":
        # As autovacuum would by now: plans made for the empty tables are made again.
        with tidings.engine.connect() as connection:
            connection.execute(text("ANALYZE"))
            connection.commit()
        tidings.engine.dispose()
    return mailbox_id


def rounds(
    categories: CategoryTracking, mailbox_id: int, count: int, among: Sequence[str] | None
) -> float:
    """Seconds a round: each reads UID 1 read, then unread, and looks (``among``)."""
    started = time.perf_counter()
    for n in range(count):
        state = CategoryState("1", present=True, seen=n % 2 == 0)
        _, pending = categories.settle(mailbox_id, "INBOX", 1, [state], 500, among)
        if pending:
            raise SystemExit(f"the folder holds tracked email without the category: {pending}")
    return (time.perf_counter() - started) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    figures: list[tuple[int, float, float]] = []
    with organization(args.database) as (tidings, org, _):
        categories = CategoryTracking(tidings.uow, tidings.clock)
        for size in sizes:
            org.add_user(f"u{size}")
            mailbox_id = fill(tidings, org, f"u{size}", size)
            rounds(categories, mailbox_id, 5, None)  # warm: statements compiled
            rounds(categories, mailbox_id, 5, ("1",))
            whole = rounds(categories, mailbox_id, args.rounds, None)
            own = rounds(categories, mailbox_id, args.rounds, ("1",))
            figures.append((size, whole, own))
    print(f"a flag round's storage work on {args.database}, one email read, {args.rounds} rounds")
    for size, whole, own in figures:
        print(
            f"  {size:6d} emails in the folder: looking at the whole folder {1000 * whole:7.2f} ms,"
            f" at the round's own change {1000 * own:5.2f} ms ({whole / own:5.1f}x)"
        )


if __name__ == "__main__":
    main()
