"""Where workers share the mailboxes (PostgreSQL), the console, the API and the CLI name the
worker holding each mailbox, as stored by that worker, and nobody once it lets go."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from tests.api_client import admin_client
from tests.builders import Org
from tests.integration.test_console import ADMIN, BASE, sign_in
from tidings.domain.holding import Holder
from tidings.entrypoints.api.app import create_app

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


def test_a_worker_reads_only_the_mailboxes_stored_as_held_by_the_others(org: Org) -> None:
    org.add_user("sam")
    _hold(org, "dana", "worker-a:4242")
    sam = _hold(org, "sam", "worker-b:7")
    with org.tidings.uow() as uow:
        assert uow.sync.held_elsewhere("worker-a:4242") == {sam: Holder("worker-b:7", SINCE)}
        assert uow.sync.held_elsewhere("worker-c:1") == uow.sync.holders()
