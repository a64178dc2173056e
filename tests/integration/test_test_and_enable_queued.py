"""Test & Enable handed to the workers where they share a task queue (PostgreSQL): the API
with ``Prefer: respond-async`` (RFC 7240) answers 202 with each mailbox queued, the console's
mailbox page says its test is queued, and ``tidings admin test-enable --queue`` prints the
queued mailboxes. Each mailbox reads as "test scheduled" until a worker has run it (here no
worker runs: tests/e2e/test_tasks.py has one run them). Where there is no queue (SQLite) the
preference is ignored and the tests run in the request, as before; ``--queue`` is refused.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from tests.api_client import admin_client, tracking_client
from tests.builders import Org
from tests.conftest import TEST_SECRET_KEY
from tests.integration.test_console import signed_in_admin
from tidings.entrypoints.api.prefer import RESPOND_ASYNC
from tidings.entrypoints.cli.main import app

ASYNC = {"Prefer": "respond-async"}
on_postgresql = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _queued_tests(org: Org) -> list[int]:
    """The mailboxes with a Test & Enable job waiting, as the queue's table says."""
    if org.tidings.engine.dialect.name != "postgresql":
        return []
    with org.tidings.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT (args->>'mailbox_id')::bigint FROM procrastinate_jobs"
                " WHERE task_name = 'test_mailbox' AND status = 'todo' ORDER BY 1"
            )
        )
        return [int(mailbox_id) for (mailbox_id,) in rows]


@pytest.fixture
def admin(org: Org) -> TestClient:
    org.add_user("sam")
    return admin_client(org)


@on_postgresql
def test_respond_async_queues_each_mailbox_and_answers_202(org: Org, admin: TestClient) -> None:
    dana, sam = org.mailboxes["dana"], org.mailboxes["sam"]
    answer = admin.post(
        "/api/mailboxes/test-and-enable",
        json={"ids": [sam, dana]},
        headers={"Prefer": "wait=5, respond-async"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.headers["preference-applied"] == RESPOND_ASYNC
    assert answer.json() == [
        {
            "mailbox_id": sam,
            "address": "sam@northwind.example",
            "status": "queued",
            "location": f"/api/mailboxes/{sam}",
        },
        {
            "mailbox_id": dana,
            "address": "dana@northwind.example",
            "status": "queued",
            "location": f"/api/mailboxes/{dana}",
        },
    ]
    assert _queued_tests(org) == sorted([dana, sam])
    shown = admin.get(f"/api/mailboxes/{dana}").json()
    # Nothing tested yet: the results are still the ones before, and it says it waits.
    assert (shown["test_scheduled"], shown["incoming_status"], shown["enabled"]) == (
        True,
        "success",
        True,
    )
    listed = admin.get("/api/mailboxes/views/all").json()
    assert {m["test_scheduled"] for m in listed} == {None}


@on_postgresql
def test_respond_async_on_one_mailbox_answers_202_with_where_to_look(
    org: Org, admin: TestClient
) -> None:
    dana = org.mailboxes["dana"]
    answer = admin.post(f"/api/mailboxes/{dana}/test-and-enable", headers=ASYNC)
    assert answer.status_code == 202, answer.text
    assert answer.headers["preference-applied"] == RESPOND_ASYNC
    assert answer.headers["location"] == f"/api/mailboxes/{dana}"
    assert answer.json()["status"] == "queued"
    assert _queued_tests(org) == [dana]
    # Asked again before a worker took it: the one job waiting will do.
    assert admin.post(f"/api/mailboxes/{dana}/test-and-enable", headers=ASYNC).status_code == 202
    assert _queued_tests(org) == [dana]
    assert admin.get(f"/api/mailboxes/{dana}").json()["test_scheduled"] is True
    assert admin.get(f"/api/mailboxes/{org.mailboxes['sam']}").json()["test_scheduled"] is False


def test_without_the_preference_the_test_runs_in_the_request_as_before(
    org: Org, admin: TestClient
) -> None:
    dana = org.mailboxes["dana"]
    answer = admin.post(f"/api/mailboxes/{dana}/test-and-enable")
    assert answer.status_code == 200
    assert "preference-applied" not in answer.headers
    # No server profile: the test ran, and failed, saying why.
    assert answer.json()["incoming"] == {
        "status": "failure",
        "message": "no email server profile: choose one",
    }
    many = admin.post("/api/mailboxes/test-and-enable", json={"ids": [dana]}).json()
    assert [r["enabled"] for r in many] == [False]
    assert _queued_tests(org) == []
    assert admin.get(f"/api/mailboxes/{dana}").json()["test_scheduled"] is False


@on_sqlite
def test_without_a_task_queue_the_preference_is_ignored_and_the_reports_come_back(
    org: Org, admin: TestClient
) -> None:
    dana = org.mailboxes["dana"]
    one = admin.post(f"/api/mailboxes/{dana}/test-and-enable", headers=ASYNC)
    many = admin.post("/api/mailboxes/test-and-enable", json={"ids": [dana]}, headers=ASYNC)
    for answer in (one, many):
        assert answer.status_code == 200
        assert "preference-applied" not in answer.headers
    assert one.json()["incoming"]["status"] == "failure"
    assert [r["mailbox_id"] for r in many.json()] == [dana]


def test_an_ndjson_stream_is_kept_whatever_the_preference(org: Org, admin: TestClient) -> None:
    dana = org.mailboxes["dana"]
    answer = admin.post(
        "/api/mailboxes/test-and-enable",
        json={"ids": [dana]},
        headers={**ASYNC, "Accept": "application/x-ndjson"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/x-ndjson")
    assert '"no email server profile: choose one"' in answer.text
    assert _queued_tests(org) == []


def test_a_caller_without_the_privilege_is_refused_and_nothing_is_queued(org: Org) -> None:
    reader = tracking_client(org)
    dana = org.mailboxes["dana"]
    one = reader.post(f"/api/mailboxes/{dana}/test-and-enable", headers=ASYNC)
    many = reader.post("/api/mailboxes/test-and-enable", json={"ids": [dana]}, headers=ASYNC)
    assert (one.status_code, many.status_code) == (403, 403)
    assert "write_mailboxes" in one.json()["detail"]
    assert _queued_tests(org) == []


def test_unknown_mailboxes_are_refused_and_nothing_is_queued(org: Org, admin: TestClient) -> None:
    dana = org.mailboxes["dana"]
    missing = admin.post("/api/mailboxes/999999/test-and-enable", headers=ASYNC)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no mailbox with id 999999"
    # One unknown among known ones refuses them all.
    some = admin.post("/api/mailboxes/test-and-enable", json={"ids": [dana, 999999]}, headers=ASYNC)
    assert some.status_code == 404
    assert some.json()["detail"] == "no mailbox with id 999999"
    by_address = admin.post(
        "/api/mailboxes/test-and-enable",
        json={"addresses": ["dana@northwind.example", "nobody@northwind.example"]},
        headers=ASYNC,
    )
    assert by_address.status_code == 404
    for malformed in (
        admin.post("/api/mailboxes/0/test-and-enable", headers=ASYNC),
        admin.post("/api/mailboxes/x/test-and-enable", headers=ASYNC),
        admin.post("/api/mailboxes/test-and-enable", json={"ids": ["x"]}, headers=ASYNC),
    ):
        assert malformed.status_code == 422
    assert _queued_tests(org) == []


@on_postgresql
def test_the_console_queues_a_mailbox_test_and_its_page_says_so(org: Org) -> None:
    console = signed_in_admin(org)
    dana = org.mailboxes["dana"]
    done = console.post(
        "/mailboxes/test-enable",
        data={"mailbox_id": dana, "back": "record"},
        follow_redirects=False,
    )
    assert done.headers["location"] == f"/mailboxes/{dana}?done=test-queued-one"
    shown = console.get(done.headers["location"]).text
    assert "Test &amp; Enable queued: a worker tests this mailbox shortly" in shown
    assert '<dd id="test-scheduled">Yes: a worker tests this mailbox shortly' in shown
    assert _queued_tests(org) == [dana]
    # From the list, back to the list, saying the same of each.
    listed = console.post(
        "/mailboxes/test-enable", data={"mailbox_id": dana}, follow_redirects=False
    )
    assert listed.headers["location"] == "/mailboxes?view=all&done=test-queued"


@on_postgresql
def test_the_console_queues_nothing_when_one_ticked_mailbox_is_gone(org: Org) -> None:
    console = signed_in_admin(org)
    gone = console.post(
        "/mailboxes/test-enable",
        data={"mailbox_id": [org.mailboxes["dana"], 999999]},
        follow_redirects=False,
    )
    assert gone.status_code == 404
    assert _queued_tests(org) == []


def _cli(org: Org, database_url: str, *args: str) -> tuple[int, str]:
    env = {
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(app, ["admin", *args], env=env)
    return result.exit_code, result.output


@on_postgresql
def test_the_command_line_queues_with_queue_and_shows_the_test_scheduled(
    org: Org, database_url: str
) -> None:
    org.add_user("sam")
    code, output = _cli(
        org,
        database_url,
        "test-enable",
        "--queue",
        "sam@northwind.example",
        "dana@northwind.example",
    )
    assert code == 0, output
    assert "[1/2] sam@northwind.example: queued" in output
    assert "[2/2] dana@northwind.example: queued" in output
    assert "Queued: 2 mailbox(es)." in output
    assert _queued_tests(org) == sorted([org.mailboxes["dana"], org.mailboxes["sam"]])
    code, listing = _cli(org, database_url, "mailboxes")
    assert code == 0, listing
    assert listing.count("yes (test scheduled)") == 2
    # An unknown address among them: the others are queued, the exit status says so.
    code, output = _cli(org, database_url, "test-enable", "--queue", "nobody@northwind.example")
    assert code == 1
    assert "no mailbox with the address nobody@northwind.example" in output


@on_sqlite
def test_the_command_line_refuses_queue_without_a_task_queue(org: Org, database_url: str) -> None:
    code, output = _cli(org, database_url, "test-enable", "--queue", "dana@northwind.example")
    assert code == 2
    assert "--queue needs the workers' task queue, which only PostgreSQL has" in output
    # Nothing was tested either: the mailbox's results are as they were.
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
    assert mailbox is not None and mailbox.alerts == []
