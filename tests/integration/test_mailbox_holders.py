"""Where workers share the mailboxes (PostgreSQL), the console, the API and the CLI name the
worker holding each mailbox, as stored by that worker, and nobody once it lets go; and a
worker takes a mailbox another worker handed back on stopping, without waiting for its
next count of the workers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.api_client import admin_client
from tests.builders import Org
from tests.integration.test_console import ADMIN, BASE, sign_in
from tidings.domain.holding import Holder
from tidings.entrypoints.api.app import create_app
from tidings.services.sync import holding
from tidings.services.sync.holding import MailboxHolding

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

SINCE = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


def _hold(org: Org, name: str, worker: str) -> int:
    mailbox_id = org.mailboxes[name]
    with org.tidings.uow() as uow:
        uow.sync.hold(mailbox_id, Holder(worker, SINCE))
        uow.commit()
    return mailbox_id


def test_the_console_names_the_worker_holding_a_mailbox_in_the_list_and_on_its_page(
    org: Org,
) -> None:
    org.add_user("sam")
    dana = _hold(org, "dana", "worker-a:4242")
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    client = TestClient(create_app(org.tidings), base_url=BASE)
    sign_in(client, *ADMIN)

    listing = client.get("/mailboxes").text
    assert "Held by" in listing
    assert listing.count("worker-a:4242") == 1  # dana's row; sam's mailbox has none
    page = client.get(f"/mailboxes/{dana}").text
    assert "worker-a:4242" in page
    assert "worker-a:4242" not in client.get(f"/mailboxes/{org.mailboxes['sam']}").text


def test_the_api_names_the_holder_until_it_lets_go(org: Org) -> None:
    dana = _hold(org, "dana", "worker-a:4242")
    client = admin_client(org)

    def held_by() -> object:
        mailboxes = client.get("/api/mailboxes").json()
        return next(m["held_by"] for m in mailboxes if m["id"] == dana)

    assert held_by() == {"worker": "worker-a:4242", "since": "2026-12-04T06:00:00Z"}
    _hold(org, "dana", "worker-b:7")  # taken over: the new holder writes over the old
    assert held_by() == {"worker": "worker-b:7", "since": "2026-12-04T06:00:00Z"}
    with org.tidings.uow() as uow:
        uow.sync.let_go(dana, "worker-a:4242")  # a late word from the old holder: ignored
        uow.commit()
    assert held_by() is not None
    with org.tidings.uow() as uow:
        uow.sync.let_go(dana, "worker-b:7")
        uow.commit()
    assert held_by() is None


class _Queue:
    """A hold queue whose count of live workers the test sets; it records hand-backs."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.handed_back: list[int] = []

    async def live_workers(self) -> int:
        return self.workers

    async def hand_back(self, mailbox_id: int, *, delay_seconds: float = 0.0) -> None:
        self.handed_back.append(mailbox_id)

    async def defer_missing(self, mailbox_ids: Collection[int]) -> int:
        return 0

    async def retry_stalled(self) -> int:
        return 0

    async def lost(self, job_ids: Collection[int]) -> set[int]:
        return set()

    async def work(self, stop: asyncio.Event, jobs: MailboxHolding) -> None:
        await stop.wait()


async def _until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 20
    while not condition():
        assert time.monotonic() < deadline, "the hold job never got there"
        await asyncio.sleep(0.01)


def test_a_mailbox_handed_back_by_a_stopping_worker_is_taken_on_a_fresh_count(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Counted an hour ago, two workers share two mailboxes, one each. The other worker has
    # stopped since and handed its mailbox back: turned down on that old count, the mailbox
    # would wait for the next one. Refusals are decided on counts no older than the wait
    # they impose (made 0 here, so any count is old).
    monkeypatch.setattr(holding, "REFUSED_DELAY_SECONDS", 0.0)
    org.add_user("sam")
    dana, sam = org.mailboxes["dana"], org.mailboxes["sam"]
    queue = _Queue(workers=2)
    service = MailboxHolding(
        org.tidings.uow,
        queue,
        org.tidings.clock,
        lambda: {dana, sam},
        refresh_seconds=3600,
        worker="here:1",
    )

    async def scenario() -> tuple[frozenset[int], list[int]]:
        stop = asyncio.Event()
        await service.refresh()
        first = asyncio.create_task(service.hold(dana, stop))
        await _until(lambda: dana in service.held.ids())
        queue.workers = 1
        second = asyncio.create_task(service.hold(sam, stop))
        await _until(lambda: sam in service.held.ids() or bool(queue.handed_back))
        held, handed_back = service.held.ids(), list(queue.handed_back)
        stop.set()
        await service.refresh()  # wakes the hold jobs, which see the stop
        await asyncio.gather(first, second)
        return held, handed_back

    held, handed_back = asyncio.run(scenario())
    assert (held, handed_back) == ({dana, sam}, [])
