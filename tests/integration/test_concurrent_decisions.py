"""Decisions about one email made by two transactions at once are made one after the other.

On PostgreSQL two workers (or two folder tasks) run their transactions side by side, at READ
COMMITTED: each would read "no activity for this email yet" and record its own. Ingest and
the departures of a move hold the email's identity until they commit, so the later one sees
what the earlier recorded, as it does on SQLite, whose transactions run one at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.builders import Org, make_email
from tests.waiting import wait_until
from tidings.domain.message import MessageOrigin
from tidings.domain.people import TrackIncoming
from tidings.domain.stored import ActivityFilter
from tidings.domain.tracking import Outcome
from tidings.services.departures import Departures
from tidings.services.tracking.results import IngestResult

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _waiting_for_an_email(database_url: str) -> int:
    """Transactions of this database waiting for an email's identity."""
    conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = current_database()"
        ).fetchone()
    return int(row[0]) if row else 0


def test_one_email_ingested_from_two_mailboxes_at_once_is_one_activity(
    org: Org, database_url: str
) -> None:
    # The email is held by a transaction of the test while both ingests start: they wait,
    # then go one after the other, and the second finds the first one's activity.
    org.add_user("sam")
    raw = make_email(to=["dana@northwind.example", "sam@northwind.example"], message_id="<c@x>")
    results: dict[str, IngestResult] = {}

    def ingest(name: str) -> Callable[[], None]:
        origin = MessageOrigin(org.mailboxes[name], "INBOX", 1, "1")
        return lambda: results.__setitem__(name, org.tidings.ingest.ingest(raw, origin))

    threads = [threading.Thread(target=ingest(name)) for name in ("dana", "sam")]
    with org.tidings.uow() as uow:
        uow.raw_messages.hold_identities(["<c@x>"])
        for thread in threads:
            thread.start()
        wait_until(lambda: _waiting_for_an_email(database_url) == 2, 30, "both ingests waiting")
    for thread in threads:
        thread.join(timeout=30)
    outcomes = sorted((r.outcome, r.summary) for r in results.values())
    assert outcomes == [
        (Outcome.NOT_TRACKED, "not tracked: already tracked from another mailbox"),
        (Outcome.TRACKED, "tracked"),
    ]
    [activity] = org.tidings.queries.activities(ActivityFilter()).items
    parties = {p.address for p in org.tidings.queries.activity(activity.id).activity.parties}
    assert {"dana@northwind.example", "sam@northwind.example"} <= parties


def test_both_halves_of_a_move_settled_at_once_leave_the_email_where_it_went(
    org: Org, database_url: str
) -> None:
    # Moved out of its tracked folder: the copy arriving in the Inbox and the one leaving
    # Contoso are reported by two folder tasks at once; whichever goes second sees both.
    org.set_track_incoming("dana", TrackIncoming.NONE)
    org.add_folder_rule("dana", "Contoso", org.records["deal"])
    raw = make_email(message_id="<moved@x>")
    dana = org.mailboxes["dana"]
    tracked = org.tidings.ingest.ingest(raw, MessageOrigin(dana, "Contoso", 1, "7"))
    arrived = org.tidings.ingest.ingest(raw, MessageOrigin(dana, "INBOX", 1, "3"))
    departures = Departures(org.tidings.uow, org.tidings.clock)
    threads = [
        threading.Thread(target=lambda: departures.arrived(dana, [arrived.raw_message_id])),
        threading.Thread(target=lambda: departures.departed(dana, "Contoso", 1, ["7"])),
    ]
    with org.tidings.uow() as uow:
        uow.raw_messages.hold_identities(["<moved@x>"])
        for thread in threads:
            thread.start()
        wait_until(lambda: _waiting_for_an_email(database_url) == 2, 30, "both halves waiting")
    for thread in threads:
        thread.join(timeout=30)
    with org.tidings.uow() as uow:
        decision = uow.decisions.get(tracked.raw_message_id)
    assert decision is not None
    assert (decision.outcome, decision.summary, decision.activity_id) == (
        Outcome.NOT_TRACKED,
        "not tracked: untracked because it was moved out of the tracked folder 'Contoso'",
        tracked.activity_id,
    )
