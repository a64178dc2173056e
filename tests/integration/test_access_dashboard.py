"""The dashboard's figures count only what the visitor may read: each figure against two
business units (Sales, Support) and users at User level (Una, Pat) in the world of
``access_world``. Sam is given a Sales manager's role that reads mailboxes and activities
of his whole unit; whoever reaches nothing of a kind sees 0, never the organization's total.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.integration.access_world import PEOPLE, World, build_world, grant
from tidings.bootstrap import Tidings
from tidings.domain.access_levels import AccessLevel
from tidings.domain.mailbox import ApprovalStatus
from tidings.domain.mailbox_views import MailboxView
from tidings.domain.people import Privilege
from tidings.domain.sync import FolderSyncState, SyncMode
from tidings.services.queries import Dashboard

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def world(tidings: Tidings) -> World:
    world = build_world(tidings)
    unit = AccessLevel.BUSINESS_UNIT
    grant(world, "sam", "Sales manager", dict.fromkeys(_READS, unit))
    return world


_READS = (Privilege.READ_MAILBOXES, Privilege.READ_ACTIVITIES)


def _dashboards(world: World) -> dict[str, Dashboard]:
    tidings = world.org.tidings
    now = tidings.clock.now()
    callers = {who: tidings.access.caller_for(f"{who}@northwind.example") for who in PEOPLE}
    figures = {who: tidings.queries.dashboard(now, caller=c) for who, c in callers.items()}
    return figures | {"server": tidings.queries.dashboard(now)}


def test_mailboxes_by_state_count_only_mailboxes_in_reach(world: World) -> None:
    # Sue's mailbox (Sales) waits for approval: Sam's unit-wide role counts it, nobody else's.
    with world.org.tidings.uow() as uow:
        sue = uow.mailboxes.get(world.org.mailboxes["sue"])
        assert sue is not None
        sue.approval, sue.enabled = ApprovalStatus.PENDING, False
        uow.mailboxes.save(sue)
        uow.commit()
    views = {who: d.mailboxes_by_view for who, d in _dashboards(world).items()}
    counted = {
        who: (v[MailboxView.ALL], v[MailboxView.PENDING_APPROVAL]) for who, v in views.items()
    }
    # Sam: his unit's three (his, Sue's, Una's); Pat: her own and the queue Help's.
    assert {who: counted[who] for who in PEOPLE} == {
        "admin": counted["server"],
        "sam": (3, 1),
        "sue": (1, 1),
        "una": (1, 0),
        "pat": (2, 0),
    }
    assert views["admin"] == views["server"]


def test_email_tracked_per_hour_counts_only_activities_in_reach(world: World) -> None:
    figures = _dashboards(world)
    tracked = {who: sum(n for _, n in d.tracked_per_hour) for who, d in figures.items()}
    assert tracked == {"admin": 6, "sam": 3, "sue": 3, "una": 1, "pat": 2, "server": 6}


def test_parked_email_counts_only_mailboxes_in_reach(world: World) -> None:
    # Bytes that are no email are parked: one in Sue's mailbox (Sales), one in Help's (Support).
    assert world.org.deliver(b"", "sue").summary.startswith("parked")
    assert world.org.deliver(b"", "help").summary.startswith("parked")
    parked = {who: d.parked for who, d in _dashboards(world).items()}
    assert parked == {"admin": 2, "sam": 1, "sue": 1, "una": 0, "pat": 1, "server": 2}


def test_email_waiting_to_be_synchronized_counts_only_mailboxes_in_reach(world: World) -> None:
    # The worker counted 5 waiting in Sue's inbox, 7 in Help's and 11 in the administrator's.
    waiting = {"sue": 5, "help": 7, "admin": 11}
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with world.org.tidings.uow() as uow:
        for name, backlog in waiting.items():
            mailbox_id = world.org.mailboxes[name]
            uow.sync.save_state(
                FolderSyncState(mailbox_id, "INBOX", SyncMode.IDLE, at, None, backlog)
            )
        uow.commit()
    backlog = {who: d.backlog for who, d in _dashboards(world).items()}
    assert backlog == {"admin": 23, "sam": 5, "sue": 5, "una": 0, "pat": 7, "server": 23}
