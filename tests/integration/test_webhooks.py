"""Webhooks: subscriptions through the API, events kept with the change they report, and
signed deliveries to a real receiver on 127.0.0.1, retried until they get through."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.api_client import admin_client
from tests.builders import Org, TickingClock, make_email
from tests.conftest import settings_for
from tests.servers.smtp import SmtpServer
from tests.servers.webhook_receiver import (  # noqa: F401
    Received,
    WebhookReceiver,
    webhook_receiver_fixture,
)
from tidings.adapters.clock import SystemClock
from tidings.adapters.webhook_sender import HttpxWebhookSender
from tidings.adapters.webhook_targets import WebhookTargetPolicy
from tidings.bootstrap import Tidings, bootstrap
from tidings.domain.errors import ValidationError
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind
from tidings.domain.webhooks import RetryPolicy
from tidings.services.webhooks import WebhookService


@pytest.fixture
def tidings(database_url: str) -> Iterator[Tidings]:
    # The receiver listens on 127.0.0.1: these tests allow loopback receivers explicitly.
    app = bootstrap(settings_for(database_url, webhook_allow_private=True), clock=TickingClock())
    yield app
    app.close()


@pytest.fixture
def api(org: Org) -> TestClient:
    # No waiting between tries: the tests drive each try themselves.
    org.tidings.webhooks.policy = RetryPolicy(max_attempts=3, base=timedelta(0))
    return admin_client(org)


def _subscribe(api: TestClient, url: str, events: list[str]) -> dict:
    response = api.post("/api/webhooks", json={"url": url, "events": events})
    assert response.status_code == 201
    return response.json()


def _verify(received: Received, secret: str) -> dict:
    """What a receiver does: recompute the HMAC over timestamp, dot, body; compare."""
    fields = dict(part.split("=", 1) for part in received.headers["X-Tidings-Signature"].split(","))
    expected = hmac.new(
        secret.encode(), fields["t"].encode() + b"." + received.body, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(expected, fields["v1"])
    return json.loads(received.body)


def _deliver(org: Org) -> list:
    org.tidings.webhooks.dispatch()
    return asyncio.run(org.tidings.webhooks.deliver_due())


def test_a_tracked_email_reaches_the_receiver_signed(
    api: TestClient, org: Org, webhook_receiver: WebhookReceiver
) -> None:
    # activity.created, signed with the secret shown once at creation.
    hook = _subscribe(api, webhook_receiver.url, ["activity.created"])
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in api.get(f"/api/webhooks/{hook['id']}").json()

    org.deliver(make_email())
    [attempt] = _deliver(org)
    assert (attempt.status_code, attempt.error) == (200, None)

    received = webhook_receiver.wait_for()
    event = _verify(received, hook["secret"])
    assert received.headers["X-Tidings-Event"] == "activity.created"
    assert event["type"] == "activity.created"
    assert event["data"]["subject"] == "Quote for 500 seats"
    assert event["data"]["parties"][0] == {
        "role": "from",
        "address": "maria@contoso.example",
        "name": "",
        "record": str(org.records["maria"]),
    }
    [delivery] = api.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        1,
        200,
    )
    assert delivery["next_attempt_at"] is None


def test_a_failing_receiver_is_retried_until_it_answers(
    api: TestClient, org: Org, webhook_receiver: WebhookReceiver
) -> None:
    # 500, then 200: two attempts, both visible, the delivery ends delivered.
    hook = _subscribe(api, webhook_receiver.url, ["activity.created"])
    webhook_receiver.answers = [500, 200]
    org.deliver(make_email())

    [first] = _deliver(org)
    assert (first.status_code, first.error) == (500, "the receiver answered HTTP 500")
    [pending] = api.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert (pending["status"], pending["attempts"]) == ("pending", 1)
    assert pending["next_attempt_at"] is not None

    [second] = _deliver(org)
    assert second.status_code == 200
    first_body = webhook_receiver.wait_for().body
    assert webhook_receiver.wait_for().body == first_body
    [delivered] = api.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert delivered["status"] == "delivered"
    assert [(a["number"], a["status_code"], a["error"]) for a in delivered["history"]] == [
        (1, 500, "the receiver answered HTTP 500"),
        (2, 200, None),
    ]


def test_a_receiver_that_never_answers_ends_failed_after_the_last_attempt(
    api: TestClient, org: Org, webhook_receiver: WebhookReceiver
) -> None:
    # Timeouts count as failures; after max_attempts the delivery stops being tried.
    org.tidings.webhooks.policy = RetryPolicy(
        max_attempts=2, base=timedelta(0), timeout=timedelta(seconds=0.2)
    )
    hook = _subscribe(api, webhook_receiver.url, ["activity.created"])
    webhook_receiver.answers = [None]
    org.deliver(make_email())
    [first] = _deliver(org)
    [second] = _deliver(org)
    assert _deliver(org) == []
    assert first.error == second.error == "no answer within 0.2 s (ReadTimeout)"
    failed = api.get(f"/api/webhooks/{hook['id']}/deliveries", params={"status": "failed"})
    [delivery] = failed.json()
    assert (delivery["attempts"], delivery["next_attempt_at"]) == (2, None)


def test_events_go_only_to_active_subscriptions_that_asked_for_them(
    api: TestClient, org: Org, webhook_receiver: WebhookReceiver
) -> None:
    sent_only = _subscribe(api, webhook_receiver.url, ["activity.sent"])
    paused = _subscribe(api, webhook_receiver.url, ["activity.created"])
    api.patch(f"/api/webhooks/{paused['id']}", json={"active": False})
    org.deliver(make_email())
    assert _deliver(org) == []
    for hook in (sent_only, paused):
        assert api.get(f"/api/webhooks/{hook['id']}/deliveries").json() == []


def test_an_event_no_active_subscription_asks_for_is_not_kept(
    api: TestClient, org: Org, webhook_receiver: WebhookReceiver
) -> None:
    # Kept, the worker would only drop it: a batch of tracked email would write and delete
    # a row per email for nobody.
    org.deliver(make_email(message_id="<unheard@example.com>"))
    paused = _subscribe(api, webhook_receiver.url, ["activity.created"])
    api.patch(f"/api/webhooks/{paused['id']}", json={"active": False})
    _subscribe(api, webhook_receiver.url, ["activity.sent"])
    org.deliver(make_email(message_id="<still-unheard@example.com>"))
    with org.tidings.uow() as uow:
        assert uow.webhooks.undispatched_events(10) == []
    # Once someone asks, the next one is kept and delivered.
    api.patch(f"/api/webhooks/{paused['id']}", json={"active": True})
    org.deliver(make_email(message_id="<heard@example.com>"))
    with org.tidings.uow() as uow:
        kept = uow.webhooks.undispatched_events(10)
    assert [e.data["message_id"] for e in kept] == ["<heard@example.com>"]
    assert [a.status_code for a in _deliver(org)] == [200]


def test_an_email_not_tracked_makes_no_event(api: TestClient, org: Org) -> None:
    # Events are written with the activity, in its transaction: no activity, no event.
    org.add_user("sam", tracking_role=False)
    org.deliver(make_email(to="sam@northwind.example"), mailbox="sam")
    with org.tidings.uow() as uow:
        assert uow.webhooks.undispatched_events(10) == []


def test_sent_email_tells_activity_sent(
    api: TestClient, org: Org, webhook_receiver: WebhookReceiver, smtp_server: SmtpServer
) -> None:
    # The event is written where the outbox marks the email sent.
    hook = _subscribe(api, webhook_receiver.url, ["activity.sent"])
    profile = ServerProfile(
        name="SMTP",
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="127.0.0.1",
        outgoing_host=smtp_server.host,
        outgoing_port=smtp_server.port,
        outgoing_security=ConnectionSecurity.NONE,
        allow_insecure=True,
        options={"save_sent_copy": "no"},
    )
    org.use_profile(profile, {"dana": "dana-pass"})
    caller = Caller(org.users["dana"], frozenset(Privilege))
    activity_id = org.tidings.outgoing.queue(
        caller,
        mailbox_id=org.mailboxes["dana"],
        to=["maria@contoso.example"],
        subject="Your quote",
        body="Hello Maria,\n",
    )
    asyncio.run(org.tidings.outgoing.send_pending())
    [attempt] = _deliver(org)
    assert attempt.status_code == 200
    event = _verify(webhook_receiver.wait_for(), hook["secret"])
    assert (event["type"], event["data"]["id"], event["data"]["status"]) == (
        "activity.sent",
        activity_id,
        "sent",
    )


def test_the_worker_loop_delivers_on_its_own(
    api: TestClient, org: Org, webhook_receiver: WebhookReceiver
) -> None:
    # The loop `tidings worker` runs: dispatch and deliver until stopped.
    hook = _subscribe(api, webhook_receiver.url, ["activity.created"])
    org.deliver(make_email())

    async def run_until_received() -> Received:
        stop = asyncio.Event()
        loop = asyncio.create_task(org.tidings.webhooks.run(stop, interval=0.05))
        received = await asyncio.to_thread(webhook_receiver.wait_for)
        stop.set()
        await loop
        return received

    event = _verify(asyncio.run(run_until_received()), hook["secret"])
    assert event["type"] == "activity.created"


def test_subscriptions_are_checked_and_need_the_settings_privileges(
    api: TestClient, org: Org
) -> None:
    not_http = api.post(
        "/api/webhooks", json={"url": "ftp://example.com/x", "events": ["activity.sent"]}
    )
    assert not_http.status_code == 422
    assert not_http.json()["detail"].startswith("body.url: String should match pattern")
    spaced = api.post(
        "/api/webhooks", json={"url": "https://crm.example/a b", "events": ["activity.sent"]}
    )
    assert spaced.status_code == 422
    assert spaced.json()["detail"] == "body.url: a webhook URL has no spaces or control characters"
    unknown = api.post("/api/webhooks", json={"url": "https://x.example/", "events": ["nope"]})
    assert unknown.status_code == 422
    # A password in the URL would be kept and shown as it is: refused, and not repeated.
    for url in (
        "https://hooks:hunter2@crm.example/in",
        "https://hunter2@crm.example/in",
        "HTTP://hooks:hunter2@[2001:db8::1]:8443/in",
    ):
        with_password = api.post("/api/webhooks", json={"url": url, "events": ["activity.sent"]})
        assert with_password.status_code == 422
        assert "hunter2" not in with_password.text
        # The service refuses it too, whatever calls it, saying why.
        admin = Caller(org.users["dana"], frozenset(Privilege))
        with pytest.raises(ValidationError, match="cannot hold a user name or password") as no:
            org.tidings.webhooks.create(admin, url, ["activity.sent"])
        assert "hunter2" not in str(no.value)
    assert api.get("/api/webhooks").json() == []
    # An @ after the host is the path's or the query's own.
    at_in_path = api.post(
        "/api/webhooks",
        json={"url": "https://crm.example/in/@team?to=a@b.example", "events": ["activity.sent"]},
    )
    assert at_in_path.status_code == 201, at_in_path.text
    assert api.get("/api/webhooks/12345").status_code == 404
    api.auth = ("maria@contoso.example", "nothing")
    assert api.get("/api/webhooks").status_code == 401


def test_the_documented_verification_code_accepts_a_real_delivery_and_nothing_else(
    api: TestClient, org: Org, webhook_receiver: WebhookReceiver
) -> None:
    # The documented receiver code is run as written, on a delivery signed now.
    api_doc = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    section = api_doc.split("## Webhooks", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the README's own example
    verify = namespace["verify"]

    hook = _subscribe(api, webhook_receiver.url, ["activity.created"])
    loopback = WebhookTargetPolicy(allow_private=True)
    now = WebhookService(
        org.tidings.uow, org.tidings.secrets, HttpxWebhookSender(loopback), SystemClock()
    )
    org.deliver(make_email())
    now.dispatch()
    asyncio.run(now.deliver_due())
    received = webhook_receiver.wait_for()
    header = received.headers["X-Tidings-Signature"]
    assert verify(hook["secret"], header, received.body)
    assert not verify(hook["secret"], header, received.body + b" ")
    assert not verify("whsec_other", header, received.body)


def test_a_subscription_deleted_during_a_try_loses_its_delivery_quietly(
    api: TestClient, org: Org, webhook_receiver: WebhookReceiver
) -> None:
    # The try ends after its subscription is gone: nothing to record, nothing breaks.
    hook = _subscribe(api, webhook_receiver.url, ["activity.created"])
    webhook_receiver.answers = [None]
    org.deliver(make_email())
    org.tidings.webhooks.dispatch()

    async def delete_during_the_try() -> list:
        trying = asyncio.create_task(org.tidings.webhooks.deliver_due())
        await asyncio.to_thread(webhook_receiver.wait_for)
        await asyncio.to_thread(api.delete, f"/api/webhooks/{hook['id']}")
        webhook_receiver.release()
        return await trying

    [attempt] = asyncio.run(delete_during_the_try())
    assert attempt.error == "Server disconnected without sending a response."
    assert api.get(f"/api/webhooks/{hook['id']}/deliveries").status_code == 404
    assert asyncio.run(org.tidings.webhooks.deliver_due()) == []


def test_finished_deliveries_are_forgotten_after_the_retention_period_pending_ones_never(
    api: TestClient, org: Org, webhook_receiver: WebhookReceiver
) -> None:
    hook = _subscribe(api, webhook_receiver.url, ["activity.created"])
    webhook_receiver.answers = [200, 500]
    org.deliver(make_email(message_id="<one@c.example>"))
    org.deliver(make_email(message_id="<two@c.example>", subject="Second"))
    assert sorted(a.status_code for a in _deliver(org)) == [200, 500]
    org.tidings.webhooks.retention = timedelta(days=30)
    assert org.tidings.webhooks.prune() == 0  # everything is younger than 30 days
    org.tidings.webhooks.retention = timedelta(0)
    assert org.tidings.webhooks.prune() == 1
    [left] = api.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert (left["status"], left["attempts"]) == ("pending", 1)
    assert [a["status_code"] for a in left["history"]] == [500]
    assert org.tidings.webhooks.prune() == 0  # still pending: kept until it ends
