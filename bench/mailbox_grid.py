"""One page of the Mailboxes grid read by the database, against the list read whole and
sorted, filtered and sliced in Python (how the console's list worked before), in one run.

Creates N users with mailboxes through the bulk import service, then times, R times each,
(1) ``MailboxSetupService.grid``: a filtered view sorted by owner, one page of 50 and the
view's count, and (2) the baseline: ``list_rows`` (every mailbox with its alerts, owners and
profiles) then the same filter, sort and slice in Python. Prints the mean time of each.

    python bench/mailbox_grid.py [--count 5000] [--repeat 20] [--database-url URL]

Without ``--database-url`` the database is SQLite in a temporary folder; a PostgreSQL URL
must name an empty database.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench.measuring import fresh_tidings, timed

from tidings.bootstrap import Tidings
from tidings.domain.grid import MailboxFilter, PageRequest, Sort
from tidings.domain.mailbox_views import MailboxView
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.services.import_formats import ImportFormat

PAGE = PageRequest(10, 50)
QUERY = MailboxFilter(view=MailboxView.PENDING_APPROVAL, text="person 1")
SORT = Sort("owner", descending=True)


def load(tidings: Tidings, count: int) -> None:
    tidings.setup.add_server_profile(
        ServerProfile(
            name="Northwind IMAP",
            kind=ServerProfileKind.IMAP_SMTP,
            incoming_host="imap.staff.example",
            outgoing_host="smtp.staff.example",
        )
    )
    tidings.access.create_admin("Bench Admin", "admin@staff.example", "bench-password")
    rows = "".join(f"Person {n},p{n}@staff.example,Northwind IMAP\n" for n in range(count))
    source = io.BytesIO(("full_name,email,profile\n" + rows).encode())
    caller = tidings.access.caller_for("admin@staff.example")
    report = tidings.mailbox_import.import_mailboxes(caller, source, ImportFormat.CSV)
    assert report.committed and not report.problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with fresh_tidings(args.database_url) as tidings:
        load(tidings, args.count)
        caller = tidings.access.caller_for("admin@staff.example")

        def in_sql() -> tuple[int, list[str]]:
            found = tidings.mailbox_setup.grid(caller, QUERY, SORT, PAGE)
            return found.total, [r.mailbox.address for r in found.rows]

        def in_python() -> tuple[int, list[str]]:
            rows = [
                r
                for r in tidings.mailbox_setup.list_rows(caller, QUERY.view)
                if "person 1" in " ".join((r.mailbox.address, r.owner_name or "")).lower()
            ]
            rows.sort(key=lambda r: ((r.owner_name or "").lower(), r.mailbox.id), reverse=True)
            shown = rows[PAGE.offset : PAGE.offset + PAGE.size]
            return len(rows), [r.mailbox.address for r in shown]

        sql_time, sql_rows = timed(args.repeat, in_sql)
        py_time, py_rows = timed(args.repeat, in_python)
        assert sql_rows == py_rows, "both ways show the same page"
        database = tidings.engine.dialect.name
    print(f"{args.count} mailboxes on {database}; page {PAGE.number} of a filtered view:")
    print(f"  grid in SQL (count + LIMIT/OFFSET): {sql_time * 1000:8.1f} ms")
    print(f"  baseline, whole list in Python:     {py_time * 1000:8.1f} ms")
    print(f"  ratio: {py_time / sql_time:.1f}x")


if __name__ == "__main__":
    main()
