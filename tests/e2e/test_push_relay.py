"""Pushes across processes: on PostgreSQL a ``tidings serve`` process receives Graph's change
notifications and Pub/Sub's pushes, and a separate ``tidings worker`` process, which holds
the sync sessions, is woken by them through the relay; the profiles poll only hourly, so
nothing but a relayed push can bring the mail within a test."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from tests.builders import Org, make_email
from tests.conftest import TEST_SECRET_KEY, settings_for
from tests.contract.gmail_source import DOMAIN, GmailSource, gmail_profile, gmail_source
from tests.contract.graph_source import GraphSource, graph_source
from tests.contract.https_app import https_app
from tests.e2e.processes import TIDINGS, start_server
from tests.servers.dovecot import Certificates
from tests.waiting import wait_until
from tidings.adapters.storage.push_relay import APPLICATION_NAME
from tidings.bootstrap import bootstrap
from tidings.domain.server_profile import CredentialSource
from tidings.domain.stored import ActivityFilter

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

DANA, SAM = f"dana@{DOMAIN}", f"sam@{DOMAIN}"
TOPIC = "projects/tidings-test/topics/gmail"
AUDIENCE = "https://tidings.northwind.example/api/push/gmail"
PUSH_ACCOUNT = "gmail-push@tidings-test.iam.gserviceaccount.com"
#: Long enough that only a push can bring mail while a test runs.
HOURLY = 60


def tls_in_front(target: str) -> Any:
    """An ASGI app that forwards each request to ``target``: the TLS-terminating proxy that
    puts Tidings on the internet (vendors notify HTTPS URLs only)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope["query_string"].decode()
        url = f"{target}{scope['path']}" + (f"?{query}" if query else "")
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k != b"host"]
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.request(scope["method"], url, content=body, headers=headers)
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": [(k.encode(), v.encode()) for k, v in answer.headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": answer.content})

    return app


@dataclass
class Processes:
    """A web process reached over HTTPS, and the org stored in the database they share."""

    org: Org
    database_url: str
    public_url: str
    worker_log: Path

    def subjects(self) -> list[str]:
        page = self.org.tidings.queries.activities(ActivityFilter(limit=500))
        return sorted(a.subject for a in page.items)

    def listener_pids(self) -> list[int]:
        """The worker's relay connections that LISTEN now."""
        with psycopg.connect(_conninfo(self.database_url), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s"
                " AND datname = current_database() AND query LIKE 'LISTEN%%'",
                (APPLICATION_NAME,),
            ).fetchall()
        return [row[0] for row in rows]

    def wait_for(self, subjects: list[str]) -> None:
        wait_until(
            lambda: self.subjects() == subjects,
            timeout=60,
            what=f"activities {subjects} (worker log: {self.worker_log.read_text()[-2000:]})",
        )


def _conninfo(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(False)


@contextmanager
def web_and_worker(
    org: Org, database_url: str, certificates: Certificates, tmp_path: Path
) -> Iterator[tuple[Processes, Any]]:
    """``tidings serve`` behind TLS; yields the processes and a function that starts
    ``tidings worker`` (once the profiles name the public URL)."""
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
    }
    with ExitStack() as stack:
        web, web_url = start_server(["serve"], env)
        stack.callback(_stop, web)
        public = stack.enter_context(https_app(tls_in_front(web_url), certificates))
        processes = Processes(org, database_url, public, tmp_path / "worker.log")

        def start_worker() -> None:
            log = stack.enter_context(processes.worker_log.open("w"))
            worker = subprocess.Popen(
                [TIDINGS, "worker"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
            )
            stack.callback(_stop, worker)
            wait_until(
                lambda: len(processes.listener_pids()) == 1,
                timeout=120,
                what="the worker listening for relayed pushes",
            )

        yield processes, start_worker


def _stop(process: subprocess.Popen[Any]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def graph(tmp_path: Path) -> Iterator[GraphSource]:
    with graph_source(tmp_path / "graph") as running:
        yield running


@pytest.fixture
def org(database_url: str) -> Iterator[Org]:
    tidings = bootstrap(settings_for(database_url))
    try:
        yield Org.create(tidings)
    finally:
        tidings.close()


@pytest.fixture
def graph_processes(
    graph: GraphSource, org: Org, database_url: str, tmp_path: Path
) -> Iterator[Processes]:
    # dana's and sam's Inboxes on Exchange Online, subscribed with the web process's URL;
    # "One" is there before the worker starts, and its first round brings it.
    org.add_user("sam")
    graph.connect(org, ["dana", "sam"])
    with web_and_worker(org, database_url, graph.graph.certificates, tmp_path) as (
        processes,
        start_worker,
    ):
        with org.tidings.uow() as uow:
            for profile in uow.server_profiles.all():
                url = f"{processes.public_url}/api/push/exchange_online"
                profile.options["notification_url"] = url
                profile.min_polling_interval_minutes = HOURLY
                uow.server_profiles.save(profile)
            uow.commit()
        graph.deliver(DANA, make_email(subject="One", message_id="<n1@c.example>"))
        start_worker()
        processes.wait_for(["One"])
        wait_until(
            lambda: len(graph.graph.subscriptions) == 2, timeout=60, what="both folders subscribed"
        )
        yield processes


def _delta_rounds(graph: GraphSource, user: str) -> int:
    return len([u for _, u in graph.graph.requests if "/messages/delta" in u and user in u])


def test_a_graph_notification_to_the_web_process_wakes_the_worker_and_a_forged_one_nothing(
    graph: GraphSource, graph_processes: Processes
) -> None:
    # A notification naming dana's subscription with the wrong clientState is answered 202
    # like any other and wakes nothing; Graph's own notification of sam's new mail, relayed
    # after it, wakes sam's folder, then dana's mail wakes dana's: no polling round between.
    processes = graph_processes
    [dana_subscription] = [s for s in graph.graph.subscriptions.values() if s.address == DANA]
    forged = {
        "subscriptionId": dana_subscription.id,
        "clientState": "not-the-client-state",
        "changeType": "created",
        "resourceData": {"id": "AAMk-forged"},
    }
    context = ssl.create_default_context(cafile=graph.graph.ca_file)
    with httpx.Client(verify=context) as http:
        answer = http.post(
            f"{processes.public_url}/api/push/exchange_online", json={"value": [forged]}
        )
    assert (answer.status_code, answer.text) == (202, "")
    graph.deliver(SAM, make_email(subject="Hello", message_id="<s1@c.example>"))
    processes.wait_for(["Hello", "One"])
    assert (_delta_rounds(graph, "dana"), _delta_rounds(graph, "sam")) == (1, 2)
    graph.deliver(DANA, make_email(subject="Two", message_id="<n2@c.example>"))
    processes.wait_for(["Hello", "One", "Two"])
    # The first round of each, then one round per genuine notification (the category
    # written on tracked mail echoes back as an update notification, and wakes nothing).
    assert (_delta_rounds(graph, "dana"), _delta_rounds(graph, "sam")) == (2, 2)
    assert {status for _, status in graph.graph.notifications} == {202}


def test_a_worker_whose_listening_connection_is_terminated_reconnects_and_catches_up(
    graph: GraphSource, graph_processes: Processes
) -> None:
    # pg_terminate_backend ends the worker's listening connection: it connects again, and
    # since notifications may have been missed meanwhile each subscribed folder has one
    # round at once; a notification after that wakes dana's folder as before.
    processes = graph_processes
    [pid] = processes.listener_pids()
    with psycopg.connect(_conninfo(processes.database_url), autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    wait_until(
        lambda: _delta_rounds(graph, "dana") == 2 and _delta_rounds(graph, "sam") == 2,
        timeout=60,
        what="the catch-up round after reconnecting",
    )
    [again] = processes.listener_pids()
    assert again != pid
    graph.deliver(DANA, make_email(subject="Two", message_id="<n2@c.example>"))
    processes.wait_for(["One", "Two"])
    assert _delta_rounds(graph, "dana") == 3


@pytest.fixture
def gmail(tmp_path: Path) -> Iterator[GmailSource]:
    with gmail_source(tmp_path / "gmail") as source:
        yield source


def test_a_genuine_pubsub_push_to_the_web_process_wakes_the_worker(
    gmail: GmailSource, org: Org, database_url: str, tmp_path: Path
) -> None:
    # Pub/Sub pushes to the web process, which relays the request with its OIDC token; the
    # worker checks the token against dana's profile, as in one process, and reads history.
    org.configure(use_tracked_category=False)  # the label write would be a change as well
    gmail.fake.create_topic(TOPIC)
    with web_and_worker(org, database_url, gmail.fake.certificates, tmp_path) as (
        processes,
        start_worker,
    ):
        subscription = gmail.fake.subscribe_push(
            TOPIC, f"{processes.public_url}/api/push/gmail", PUSH_ACCOUNT, audience=AUDIENCE
        )
        profile = gmail_profile(gmail.fake, CredentialSource.MAILBOX)
        profile.options |= {
            "pubsub_topic": TOPIC,
            "push_audience": AUDIENCE,
            "push_service_account": PUSH_ACCOUNT,
            "push_certs_url": gmail.fake.certs_url,
        }
        profile.min_polling_interval_minutes = HOURLY
        gmail.fake.add_mailbox(DANA)
        org.use_profile(profile, {"dana": json.dumps(gmail.key)})
        gmail.deliver(DANA, make_email(subject="Waiting", message_id="<w@contoso>"))
        start_worker()
        processes.wait_for(["Waiting"])
        # Without a token, the web process refuses it alone, as the receiver would.
        context = ssl.create_default_context(cafile=gmail.fake.ca_file)
        with httpx.Client(verify=context) as http:
            bare = http.post(subscription.endpoint, json={"message": {}})
        assert (bare.status_code, bare.text) == (401, "")
        wait_until(lambda: DANA in gmail.fake.watches, timeout=60, what="the mailbox watched")
        gmail.deliver(DANA, make_email(subject="Pushed", message_id="<p@contoso>"))
        processes.wait_for(["Pushed", "Waiting"])
        [delivery] = gmail.fake.pubsub.wait_for_deliveries(1)
        assert (delivery.subscription, delivery.status) == (subscription.name, 204)
        # One listing at the start, one history round woken by the relayed push.
        assert gmail.fake.requests.count("GET /gmail/v1/users/me/history") == 1
