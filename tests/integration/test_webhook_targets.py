"""Webhooks reach only the public internet unless the admin allows private receivers: every
spelling of an inward address is refused on subscribing (422, saying why), a host name is
resolved on subscribing and again before each delivery, and the delivery connects to the
addresses judged (the name's certificate still verified); on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typing_extensions import override

from tests.api_client import admin_client
from tests.builders import Org, TickingClock, make_email
from tests.conftest import settings_for
from tests.servers.dovecot import issue_certificates
from tests.servers.webhook_receiver import (  # noqa: F401
    WebhookReceiver,
    webhook_receiver_fixture,
)
from tidings.adapters.clock import SystemClock
from tidings.adapters.webhook_sender import HttpxWebhookSender
from tidings.adapters.webhook_targets import Destination, WebhookTargetPolicy
from tidings.bootstrap import Tidings, bootstrap
from tidings.domain.errors import ValidationError, WebhookSendError
from tidings.domain.webhooks import DeliveryStatus, RetryPolicy
from tidings.services.webhooks import WebhookService

INWARD = {
    "http://127.0.0.1:9/hook": "127.0.0.1 is a loopback address",
    "http://2130706433/hook": "127.0.0.1 is a loopback address",
    "http://0x7f.0.0.1/hook": "127.0.0.1 is a loopback address",
    "http://0177.0.0.1/hook": "127.0.0.1 is a loopback address",
    "http://127.1/hook": "127.0.0.1 is a loopback address",
    "http://[::1]/hook": "::1 is a loopback address",
    "http://[::ffff:127.0.0.1]/hook": "is a loopback address",
    "http://[::ffff:10.0.0.5]/hook": "is a private address",
    "http://169.254.169.254/latest/meta-data": "169.254.169.254 is a link-local address",
    "http://[fe80::1]/hook": "fe80::1 is a link-local address",
    "http://10.1.2.3/hook": "10.1.2.3 is a private address",
    "http://172.16.0.1/hook": "172.16.0.1 is a private address",
    "https://192.168.1.20/hook": "192.168.1.20 is a private address",
    "http://[fd12:3456::1]/hook": "fd12:3456::1 is a private address",
    "http://100.64.0.1/hook": "100.64.0.1 is a non-global address",
    "http://224.0.0.251/hook": "224.0.0.251 is a multicast address",
    "http://[ff02::1]/hook": "ff02::1 is a multicast address",
    "http://0.0.0.0/hook": "0.0.0.0 is an unspecified address",
    "http://[::]/hook": ":: is an unspecified address",
    "http://[64:ff9b::a00:5]/hook": "is a private address",
    "http://[2002:7f00:1::]/hook": "is a loopback address",
    "http://localhost:8025/hook": "'localhost' resolves to",
}


def test_every_spelling_of_an_inward_address_is_refused_and_public_ones_pass() -> None:
    policy = WebhookTargetPolicy()
    for url, why in INWARD.items():
        with pytest.raises(ValidationError, match="TIDINGS_WEBHOOK_ALLOW_PRIVATE") as refused:
            policy.check(url)
        assert why in str(refused.value), url
    for url in ("https://8.8.8.8/hook", "https://[2606:4700:4700::1111]/hook"):
        policy.check(url)


def test_a_host_name_is_judged_by_every_address_it_resolves_to() -> None:
    names = {
        "hooks.example": ["93.184.216.34"],
        "split.example": ["93.184.216.34", "10.0.0.8"],
        "rebound.example": ["::ffff:169.254.169.254"],
    }
    policy = WebhookTargetPolicy(resolver=lambda host, port: names[host])
    policy.check("https://hooks.example/in")
    with pytest.raises(ValidationError, match=r"'split\.example' resolves to 10\.0\.0\.8"):
        policy.check("https://split.example/in")
    with pytest.raises(ValidationError, match="link-local"):
        policy.check("https://rebound.example/in")


def test_a_name_that_does_not_resolve_is_refused_clearly() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(ValidationError, match="cannot be resolved"):
        WebhookTargetPolicy(resolver=nowhere).check("https://no-such-host.invalid/")


def test_the_admin_can_allow_private_receivers() -> None:
    WebhookTargetPolicy(allow_private=True).check("http://127.0.0.1:9/hook")


def test_the_api_refuses_an_inward_webhook_with_a_clear_422(org: Org) -> None:
    api = admin_client(org)
    for url in ("http://127.0.0.1:9/hook", "http://[::ffff:10.0.0.5]/", "http://2130706433/"):
        refused = api.post("/api/webhooks", json={"url": url, "events": ["activity.created"]})
        assert refused.status_code == 422, url
        assert refused.headers["content-type"] == "application/problem+json"
        assert "public internet addresses" in refused.json()["detail"]
    assert api.get("/api/webhooks").json() == []


def test_changing_a_webhook_to_an_inward_url_is_refused_too(org: Org) -> None:
    api = admin_client(org)
    created = api.post(
        "/api/webhooks", json={"url": "https://8.8.8.8/hook", "events": ["activity.created"]}
    )
    assert created.status_code == 201
    hook_id = created.json()["id"]
    moved = api.patch(f"/api/webhooks/{hook_id}", json={"url": "http://169.254.169.254/"})
    assert moved.status_code == 422
    assert "link-local" in moved.json()["detail"]
    assert api.get(f"/api/webhooks/{hook_id}").json()["url"] == "https://8.8.8.8/hook"


@pytest.fixture
def allowing(database_url: str) -> Iterator[Tidings]:
    """A Tidings whose admin allows private receivers (TIDINGS_WEBHOOK_ALLOW_PRIVATE)."""
    app = bootstrap(settings_for(database_url, webhook_allow_private=True), clock=TickingClock())
    yield app
    app.close()


def test_delivery_checks_the_address_again_and_refuses_without_sending(
    allowing: Tidings, webhook_receiver: WebhookReceiver
) -> None:
    # Subscribed while private receivers were allowed; delivered by a server that no
    # longer allows them: the attempt is recorded as refused, and nothing is posted.
    org = Org.create(allowing)
    api = admin_client(org)
    hook = api.post(
        "/api/webhooks", json={"url": webhook_receiver.url, "events": ["activity.created"]}
    ).json()
    strict = WebhookService(
        allowing.uow,
        allowing.secrets,
        HttpxWebhookSender(WebhookTargetPolicy()),
        SystemClock(),
        policy=RetryPolicy(max_attempts=1, base=timedelta(0)),
    )
    org.deliver(make_email())
    strict.dispatch()
    [attempt] = asyncio.run(strict.deliver_due())
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("not sent: webhook URLs may only point at public internet")
    assert webhook_receiver.requests.empty()
    [delivery] = api.get(f"/api/webhooks/{hook['id']}/deliveries").json()
    assert delivery["status"] == DeliveryStatus.FAILED.value


def test_with_private_receivers_allowed_a_loopback_receiver_gets_the_event(
    allowing: Tidings, webhook_receiver: WebhookReceiver
) -> None:
    org = Org.create(allowing)
    api = admin_client(org)
    created = api.post(
        "/api/webhooks", json={"url": webhook_receiver.url, "events": ["activity.created"]}
    )
    assert created.status_code == 201
    org.deliver(make_email())
    allowing.webhooks.dispatch()
    [attempt] = asyncio.run(allowing.webhooks.deliver_due())
    assert attempt.status_code == 200
    assert webhook_receiver.wait_for().body


def test_a_delivery_connects_to_the_address_it_judged_and_never_resolves_again() -> None:
    # DNS rebinding: a name with a short time to live answers a public address to the
    # check and an inward one to the HTTP client's own lookup. The post is pinned.
    answers = [["93.184.216.34", "2606:2800:220:1::1"], ["169.254.169.254"]]
    asked: list[tuple[str, int]] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return answers.pop(0)

    destination = WebhookTargetPolicy(resolver=rebinding).destination(
        "https://user:secret@hooks.example:8443/in?x=1"
    )

    assert asked == [("hooks.example", 8443)]
    assert destination.urls == (
        "https://user:secret@93.184.216.34:8443/in?x=1",
        "https://user:secret@[2606:2800:220:1::1]:8443/in?x=1",
    )
    assert destination.host_header == "hooks.example:8443"
    assert destination.server_name == "hooks.example"


def test_an_international_receiver_is_looked_up_by_its_idna_2008_name() -> None:
    # The HTTP client writes straße.example as xn--strae-oqa.example; the standard
    # library's lookup would judge strasse.example, another domain, instead.
    asked: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append(host)
        return ["93.184.216.34"]

    destination = WebhookTargetPolicy(resolver=resolver).destination("http://straße.example/in")

    assert asked == ["xn--strae-oqa.example"]
    assert destination.host_header == "xn--strae-oqa.example"
    assert destination.server_name is None  # plain HTTP: no certificate to match


class _Pinned(WebhookTargetPolicy):
    """Judges every URL as pinned to this test's receiver on 127.0.0.1, as a public
    name's address would be: the sender cannot tell, and must not look the name up."""

    def __init__(self, port: int, scheme: str, name: str) -> None:
        super().__init__()
        self._pinned = Destination(
            (f"{scheme}://127.0.0.1:{port}/hook",),
            host_header=f"{name}:{port}",
            server_name=name if scheme == "https" else None,
        )

    @override
    def destination(self, url: str) -> Destination:
        return self._pinned


def test_the_post_names_the_host_it_was_subscribed_to() -> None:
    receiver = WebhookReceiver()
    receiver.start()
    try:
        sender = HttpxWebhookSender(_Pinned(receiver.port, "http", "hooks.invalid"))
        status = asyncio.run(
            sender.post("http://hooks.invalid/hook", b"{}", {"X-Tidings": "1"}, 10)
        )
        received = receiver.wait_for()
    finally:
        receiver.stop()

    assert status == 200
    assert received.headers["Host"] == f"hooks.invalid:{receiver.port}"
    assert received.headers["X-Tidings"] == "1"


def test_over_tls_the_certificate_must_match_the_name_not_the_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The certificate names hooks.invalid only: the pinned connection verifies it against
    # the subscribed name, and refuses it for any other name.
    certificates = issue_certificates(
        tmp_path / "tls", names=("hooks.invalid",), with_loopback_address=False
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca_file))
    receiver = WebhookReceiver(tls=certificates.server_context())
    receiver.start()
    try:
        matching = HttpxWebhookSender(_Pinned(receiver.port, "https", "hooks.invalid"))
        assert asyncio.run(matching.post("https://hooks.invalid/hook", b"{}", {}, 10)) == 200
        other = HttpxWebhookSender(_Pinned(receiver.port, "https", "other.invalid"))
        with pytest.raises(WebhookSendError, match="CERTIFICATE_VERIFY_FAILED"):
            asyncio.run(other.post("https://other.invalid/hook", b"{}", {}, 10))
    finally:
        receiver.stop()
