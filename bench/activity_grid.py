"""The email activities grid and its export on a year of tracked email: what one page costs
a person who sees everything and one who sees only their own, beside the cheapest page the
database can give in the same run.

Tracks one email for each of R sales reps through the pipeline, then copies those
activities (with their parties) N times over a year of received times, spread over the reps.
Times, R times each, through the same service the console and the API use:

- the first page of the grid (its default order, newest received first) with its total,
  for an administrator and for one rep (the tracking role: their own activities only);
- page 200 of the administrator's grid;
- the whole export (CSV) of one rep's activities, and of everything, each once;

beside the floor: the newest 50 activity ids by primary key, one indexed read.

    python bench/activity_grid.py [--activities 200000] [--reps 20] [--repeat 5]
                                  [--database-url URL]

Without ``--database-url`` the database is SQLite in a temporary folder; a PostgreSQL URL
must name an empty database.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.measuring import fresh_tidings, timed
from sqlalchemy import func, select, text

from tests.builders import Org, make_email
from tidings.adapters.storage import tables as t
from tidings.bootstrap import Tidings
from tidings.domain.people import Caller
from tidings.domain.stored import ActivityFilter

#: Rows written a statement while copying.
BATCH = 5000


def load(tidings: Tidings, org: Org, activities: int, reps: int) -> None:
    """One tracked email per rep, then ``activities`` copies of them over a year."""
    for n in range(reps):
        org.add_user(f"rep{n}")
        org.deliver(
            make_email(
                to=f"rep{n}@northwind.example",
                subject=f"Quote {n} for 500 seats",
                message_id=f"<template-{n}@contoso.example>",
                body="Hello,\n\n" + "could you send the quote for the 500 seats?\n" * 25,
            ),
            mailbox=f"rep{n}",
        )
    with tidings.engine.begin() as conn:
        templates = [dict(r) for r in conn.execute(select(t.email_activities)).mappings()]
        parties: dict[int, list[dict[str, Any]]] = {}
        for row in conn.execute(select(t.activity_parties)).mappings():
            parties.setdefault(row["activity_id"], []).append(dict(row))
        next_id = int(conn.execute(select(func.max(t.email_activities.c.id))).scalar_one()) + 1
        year = timedelta(days=365)
        activity_rows: list[dict[str, Any]] = []
        party_rows: list[dict[str, Any]] = []
        for n in range(activities):
            template = templates[n % len(templates)]
            identity = f"<copy-{n}@contoso.example>"
            received = template["received_at"] - year * (n / activities)
            activity_rows.append(
                template
                | {
                    "id": next_id + n,
                    "identity": identity,
                    "message_id": identity,
                    "subject": f"{template['subject']} #{n}",
                    "received_at": received,
                    "created_at": received,
                    "conversation_id": None,
                    "conversation_index": None,
                    "raw_message_id": None,
                }
            )
            for party in parties.get(template["id"], []):
                party_rows.append({k: v for k, v in party.items() if k != "id"})
                party_rows[-1]["activity_id"] = next_id + n
            if len(activity_rows) >= BATCH or n == activities - 1:
                conn.execute(t.email_activities.insert(), activity_rows)
                conn.execute(t.activity_parties.insert(), party_rows)
                activity_rows, party_rows = [], []
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"SELECT setval('email_activities_id_seq', {next_id + activities})"))
    # As a database that has run a while: statistics read, and on PostgreSQL the pages
    # marked all-visible by (auto)vacuum, which index-only reads need.
    with tidings.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if conn.dialect.name == "postgresql" else "ANALYZE"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activities", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with fresh_tidings(args.database_url) as tidings:
        org = Org.create(tidings)
        started = time.perf_counter()
        load(tidings, org, args.activities, args.reps)
        loaded = time.perf_counter() - started
        tidings.access.create_admin("Bench Admin", "admin@northwind.example", "bench-password")
        everyone = tidings.access.caller_for("admin@northwind.example")
        rep = tidings.access.caller_for("rep3@northwind.example")
        queries = tidings.queries
        first = ActivityFilter()
        deep = replace(first, offset=199 * first.limit)

        def page(caller: Caller, query: ActivityFilter) -> Callable[[], tuple[int, int]]:
            def run() -> tuple[int, int]:
                found = queries.activities(query, caller)
                return found.total, len(found.items)

            return run

        def export(caller: Caller) -> Callable[[], int]:
            return lambda: sum(1 for _ in queries.export_activities(first, caller))

        def floor() -> int:
            with tidings.engine.connect() as conn:
                ids = conn.execute(
                    select(t.email_activities.c.id)
                    .order_by(t.email_activities.c.id.desc())
                    .limit(first.limit)
                ).all()
            return len(ids)

        floor_time, _ = timed(args.repeat, floor)
        rows = [
            ("first page, administrator", *timed(args.repeat, page(everyone, first))),
            ("first page, one rep (own only)", *timed(args.repeat, page(rep, first))),
            ("page 200, administrator", *timed(args.repeat, page(everyone, deep))),
            ("export, one rep", *timed(1, export(rep))),
            ("export, administrator", *timed(1, export(everyone))),
        ]
        database = tidings.engine.dialect.name
    print(
        f"{args.activities} email activities of {args.reps} reps on {database} "
        f"(copied in {loaded:.0f} s)"
    )
    print(f"  floor: the newest {first.limit} ids by primary key   {floor_time * 1000:9.1f} ms")
    for what, seconds, result in rows:
        print(
            f"  {what:<34} {seconds * 1000:9.1f} ms  {seconds / floor_time:8.0f}x the floor"
            f"  ({result})"
        )


if __name__ == "__main__":
    main()
