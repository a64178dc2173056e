"""The real `tidings` processes: the demo loaded, then `tidings serve` answering HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.processes import TIDINGS, serving, start_server
from tidings.adapters.passwords import Argon2PasswordHasher
from tidings.bootstrap import bootstrap
from tidings.config import Settings

ADMIN = ("admin@northwind.example", "northwind-demo")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("server")
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": f"sqlite:///{folder / 'tidings.db'}",
        "TIDINGS_SECRET_KEY_FILE": str(folder / "secret.key"),
    }
    demo = subprocess.run(
        [TIDINGS, "demo", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "northwind-demo" in demo.stdout
    # Priya gets a password but no role: she can sign in and is refused.
    tidings = bootstrap(
        Settings(database_url=env["TIDINGS_DATABASE_URL"], secret_key_file=folder / "secret.key")
    )
    with tidings.uow() as uow:
        priya = uow.directory.get_user_by_email("priya@northwind.example")
        assert priya is not None
        priya.password_hash = Argon2PasswordHasher("cheapest").hash("priya-pass")
        uow.directory.save_user(priya)
        uow.commit()
    tidings.close()
    with serving(["serve"], env) as url:
        yield url


def test_healthz_answers_without_sign_in(server: str) -> None:
    response = httpx.get(f"{server}/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_the_api_refuses_anonymous_callers_with_problem_details(server: str) -> None:
    response = httpx.get(f"{server}/api/activities")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="Tidings"'


def test_a_user_without_the_tracking_role_is_not_authorized(server: str) -> None:
    # D365's words for a user whose security roles do not allow tracking.
    response = httpx.get(f"{server}/api/activities", auth=("priya@northwind.example", "priya-pass"))
    assert response.status_code == 403
    assert response.json()["detail"] == "You haven't been authorized to use this app"
    mailboxes = httpx.get(f"{server}/api/mailboxes", auth=("priya@northwind.example", "priya-pass"))
    assert mailboxes.status_code == 403


def test_invalid_parameters_are_problem_details(server: str) -> None:
    response = httpx.get(f"{server}/api/activities", params={"limit": 0}, auth=ADMIN)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Invalid request"
    assert "limit" in response.json()["detail"]


def test_a_wrong_password_is_refused(server: str) -> None:
    response = httpx.get(f"{server}/api/activities", auth=("admin@northwind.example", "wrong"))
    assert response.status_code == 401


def test_the_demo_activities_are_listed_and_filtered(server: str) -> None:
    # The demo's sample mailbox gave 8 tracked emails, besides the quote the CRM sent.
    page = httpx.get(f"{server}/api/activities", auth=ADMIN).json()
    assert page["total"] == 9
    sam = httpx.get(
        f"{server}/api/activities", params={"mailbox": "sam@northwind.example"}, auth=ADMIN
    ).json()
    assert [a["subject"] for a in sam["items"]] == ["RE: Quote for 500 seats CRM:0001001"]
    deal = httpx.get(
        f"{server}/api/activities", params={"regarding": "opportunity:1"}, auth=ADMIN
    ).json()
    assert deal["total"] == 4
    maria = httpx.get(f"{server}/api/activities", params={"party": "contact:1"}, auth=ADMIN).json()
    assert maria["total"] >= 2
    bad = httpx.get(f"{server}/api/activities", params={"regarding": "planet:1"}, auth=ADMIN)
    assert bad.status_code == 422


def test_one_activity_has_parties_attachments_and_its_trace(server: str) -> None:
    page = httpx.get(
        f"{server}/api/activities", params={"mailbox": "support@northwind.example"}, auth=ADMIN
    ).json()
    logs = next(a for a in page["items"] if a["subject"].startswith("CAS-01001"))
    detail = httpx.get(f"{server}/api/activities/{logs['id']}", auth=ADMIN).json()
    blocked = {a["filename"]: a["blocked"] for a in detail["attachments"]}
    assert blocked == {"server.log": False, "fix-tool.exe": True}
    senders = [p for p in detail["parties"] if p["role"] == "from"]
    assert sorted(p["record"]["kind"] for p in senders) == ["account", "contact"]
    assert detail["trace"]["outcome"] == "tracked"
    assert [r["verdict"] for r in detail["trace"]["reasons"]].count("fail") == 0
    missing = httpx.get(f"{server}/api/activities/99999", auth=ADMIN)
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no email activity with id 99999"


def test_mailboxes_show_their_state_and_alerts(server: str) -> None:
    mailboxes = httpx.get(f"{server}/api/mailboxes", auth=ADMIN).json()
    assert {m["address"] for m in mailboxes} == {
        "dana@northwind.example",
        "sam@northwind.example",
        "priya@northwind.example",
        "support@northwind.example",
    }
    assert all(m["approval"] == "approved" and m["enabled"] for m in mailboxes)
    assert all(m["alerts"][0]["level"] == "information" for m in mailboxes)
    assert all(m["folders"] == [] for m in mailboxes)  # the demo's mailboxes never synced


def test_the_demo_serves_with_the_worker_and_stops_cleanly_on_ctrl_c(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # `make demo`'s command: the server and the worker in one process, both ending on SIGINT.
    folder = tmp_path_factory.mktemp("demo")
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": f"sqlite:///{folder / 'tidings.db'}",
        "TIDINGS_SECRET_KEY_FILE": str(folder / "secret.key"),
    }
    process, url = start_server(["demo"], env)
    try:
        assert httpx.get(f"{url}/healthz").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        # 130 is how a program says it ended on Ctrl-C (128 + SIGINT), as uvicorn does.
        assert process.wait(timeout=30) in (0, 128 + signal.SIGINT)


def test_a_body_declared_past_the_bound_is_refused_before_a_byte_of_it_is_sent(
    server: str,
) -> None:
    # Only the headers go out: a server that read the body first would wait for 100 MB.
    host, port = server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            b"POST /api/emails HTTP/1.1\r\nHost: tidings.example\r\n"
            b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n"
        )
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := connection.recv(65536)):
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"application/problem+json" in answer
