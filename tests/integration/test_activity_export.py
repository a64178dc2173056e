"""Exporting email activities: every activity of the view the caller may read, in the
view's order, read a chunk of ids at a time (never by offset, which reads every earlier
row again for each chunk); on both databases."""

from __future__ import annotations

import re

import pytest

from tests.builders import Org, make_email
from tidings.bootstrap import Tidings
from tidings.domain.grid import Sort
from tidings.domain.people import Caller, Privilege
from tidings.domain.stored import ActivityFilter
from tidings.services.queries import QueryService

#: Chunks this small make seven activities cross two chunk boundaries.
CHUNK = 3


@pytest.fixture
def org(tidings: Tidings) -> Org:
    """The organization, its queries exporting in chunks of ``CHUNK``."""
    tidings.queries = QueryService(tidings.uow, tidings.clock, export_chunk=CHUNK)
    return Org.create(tidings)


def _deliver(org: Org, n: int, mailbox: str) -> None:
    raw = make_email(
        subject=f"Quote {n}",
        to=f"{mailbox}@northwind.example",
        message_id=f"<q{n}@contoso.example>",
    )
    # Days received out of the order delivered: the export follows the sort, not the ids.
    day = f"Date: {(n * 5) % 7 + 1:02d} Jun 2026 10:00:00 +0000".encode()
    org.deliver(re.sub(rb"(?m)^Date: .*$", day, raw, count=1), mailbox=mailbox)


def test_an_export_holds_every_activity_in_the_views_order_across_chunks(org: Org) -> None:
    org.add_user("sam")
    for n in range(7):
        _deliver(org, n, "dana" if n % 2 else "sam")
    admin = Caller(org.users["dana"], frozenset(Privilege))
    newest_first = ActivityFilter()

    exported = list(org.tidings.queries.export_activities(newest_first, admin))

    days = [a.received_at for a in exported]
    assert len(exported) == 7 and days == sorted(days, reverse=True)  # type: ignore[type-var]
    assert all(a.parties for a in exported), "each activity with its parties"
    by_subject = ActivityFilter(sort=Sort("subject"))
    subjects = [a.subject for a in org.tidings.queries.export_activities(by_subject, admin)]
    assert subjects == [f"Quote {n}" for n in range(7)]


def test_an_export_and_a_page_hold_only_what_the_caller_may_read(org: Org) -> None:
    # Two people at the User level one after the other: the same statement, compiled and
    # cached once, bound to each one's own reach.
    sam = org.add_user("sam")
    for n in range(7):
        _deliver(org, n, "dana" if n % 2 else "sam")
    queries = org.tidings.queries
    for user, own in ((sam, (0, 2, 4, 6)), (org.users["dana"], (1, 3, 5)), (sam, (0, 2, 4, 6))):
        caller = org.tidings.access.caller_for(user.email)
        exported = list(queries.export_activities(ActivityFilter(), caller))
        page = queries.activities(ActivityFilter(limit=2), caller)

        assert sorted(a.subject for a in exported) == [f"Quote {n}" for n in own]
        assert page.total == len(own) and len(page.items) == 2
        assert {a.subject for a in page.items} <= {f"Quote {n}" for n in own}


def test_activities_deleted_during_an_export_neither_shift_nor_break_it(org: Org) -> None:
    # Read by offset, the next chunk would start one row late once an exported activity is
    # deleted, and one email would be missing from the file without a word.
    for n in range(7):
        _deliver(org, n, "dana")
    admin = Caller(org.users["dana"], frozenset(Privilege))
    export = org.tidings.queries.export_activities(ActivityFilter(sort=Sort("subject")), admin)

    first = next(export)  # the ids are listed, the first chunk (Quote 0 to 2) read
    with org.tidings.uow() as uow:
        for activity in uow.activities.search(ActivityFilter()):
            if activity.subject in ("Quote 1", "Quote 6"):
                uow.activities.delete(activity.id)  # type: ignore[arg-type]
        uow.commit()
    rest = list(export)

    exported = [first.subject, *(a.subject for a in rest)]
    assert exported == [f"Quote {n}" for n in range(6)], "read before: kept; after: left out"
