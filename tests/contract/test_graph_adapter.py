"""The Graph adapter's own promises, against the contract fake: Test & Enable in an admin's
words, certificate credentials, and the errors sync acts on."""

from __future__ import annotations

import asyncio
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient

from tests.builders import Org, make_email
from tests.contract.conftest import SECRET
from tests.contract.graph_fake import FakeApp, FakeGraphServer
from tests.contract.graph_source import graph_profile, use_graph_profile
from tidings.adapters.graph.notifications import GraphNotificationHub
from tidings.adapters.graph.session import GraphDeltaOpener, fallback_poll_seconds
from tidings.adapters.graph.tester import GraphTester
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.errors import CursorExpiredError, MailServerError
from tidings.domain.mailbox import TestStatus
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.entrypoints.api.app import create_app

DANA = "dana@northwind.example"


def check(
    graph: FakeGraphServer, app: FakeApp, secret: str = SECRET, address: str = DANA, **options: str
):
    profile = graph_profile(graph, app)
    profile.options |= options
    tester = GraphTester(GraphTokens())
    credential = Credential(app.client_id, secret)

    async def both():
        return (
            await tester.check_incoming(profile, credential, address),
            await tester.check_outgoing(profile, credential, address),
        )

    return asyncio.run(both())


def test_test_and_enable_passes_and_enables_an_exchange_online_mailbox(graph, graph_app, org: Org):
    # Incoming: a token and the Inbox reached; outgoing: the token carries Mail.Send.
    use_graph_profile(org, graph_profile(graph, graph_app), SECRET, ["dana"])
    admin = Caller(org.users["dana"], frozenset(Privilege))
    [report] = asyncio.run(org.tidings.mailboxes.test_and_enable(admin, [org.mailboxes["dana"]]))
    assert (report.incoming.status, report.outgoing.status) == (
        TestStatus.SUCCESS,
        TestStatus.SUCCESS,
    )
    assert report.incoming.message == (
        f"incoming: the app {graph_app.client_id} reached the Inbox of {DANA} through "
        "Microsoft Graph (Mail.ReadWrite)"
    )


def test_an_app_without_mail_send_fails_outgoing_saying_what_to_grant(graph):
    app = graph.add_app(secret=SECRET, roles=["Mail.ReadWrite"])
    incoming, outgoing = check(graph, app)
    assert incoming.ok and not outgoing.ok and outgoing.permanent
    assert outgoing.message == (
        "outgoing: the app registration lacks Mail.Send application permission (granted: "
        "Mail.ReadWrite): add it in Entra ID and grant admin consent"
    )


def test_an_app_without_mail_read_write_fails_incoming_on_the_permission(graph):
    app = graph.add_app(secret=SECRET, roles=["Mail.Send"])
    incoming, outgoing = check(graph, app)
    assert outgoing.ok and not incoming.ok and incoming.permanent
    assert incoming.message.startswith(
        "incoming: the app registration lacks Mail.ReadWrite application permission (or an "
        f"application access policy excludes the mailbox {DANA}): grant it in Entra ID"
    )


def test_a_mailbox_outside_the_application_access_policy_fails_incoming(graph, graph_app):
    graph.block_mailbox(DANA)
    incoming, _ = check(graph, graph_app)
    assert not incoming.ok and "application access policy" in incoming.message
    assert "AccessPolicy" in incoming.message  # Graph's own words follow


def test_an_unknown_tenant_and_an_unknown_mailbox_are_named(graph, graph_app):
    incoming, outgoing = check(graph, graph_app, tenant_id="contoso.example")
    assert incoming.message == (
        "incoming: Microsoft sign-in: tenant contoso.example was not found: check the "
        "Directory (tenant) ID (AADSTS90002)"
    )
    assert outgoing.permanent
    incoming, _ = check(graph, graph_app, address="nobody@northwind.example")
    assert incoming.message.startswith(
        "incoming: no mailbox nobody@northwind.example in the tenant: check the address"
    )


def test_an_untrusted_graph_certificate_is_a_permanent_failure(graph, graph_app, tmp_path):
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_bytes(_certificate_and_key()[0])
    incoming, _ = check(graph, graph_app, ca_file=str(other_ca))
    assert not incoming.ok and incoming.permanent
    assert "is not trusted" in incoming.message and "ca_file" in incoming.message


def test_a_certificate_credential_signs_in_and_reads_the_folder(graph):
    # The profile's credential is the PEM of the private key followed by its certificate.
    cert_pem, key_pem = _certificate_and_key()
    app = graph.add_app(certificate_pem=cert_pem)
    graph.deliver(DANA, make_email())
    incoming, outgoing = check(graph, app, secret=(key_pem + cert_pem).decode())
    assert incoming.ok and outgoing.ok, (incoming.message, outgoing.message)


def test_a_delta_link_on_another_host_is_never_followed(graph, graph_app):
    # A stored cursor only ever goes back to the profile's own Graph URL, token and all.
    opener = GraphDeltaOpener(GraphTokens())

    async def follow() -> None:
        session = await opener(
            graph_profile(graph, graph_app), Credential("x", SECRET), DANA, "INBOX"
        )
        try:
            await session.changes(
                "https://graph.example.net/v1.0/users/x/delta?$deltatoken=1", None
            )
        finally:
            await session.close()

    with pytest.raises(CursorExpiredError):
        asyncio.run(follow())


def test_a_missing_tracked_folder_is_a_transient_error_naming_it(graph, graph_app):
    opener = GraphDeltaOpener(GraphTokens())
    with pytest.raises(MailServerError, match="has no folder 'Clients/Contoso'") as raised:
        asyncio.run(
            opener(
                graph_profile(graph, graph_app), Credential("x", SECRET), DANA, "Clients/Contoso"
            )
        )
    assert not raised.value.permanent


def _certificate_and_key() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tidings app")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def test_the_push_endpoint_answers_graphs_validation_and_refuses_what_it_cannot_use(org: Org):
    # Graph's handshake gets its token back as text; unknown kinds and bodies are refused.
    with TestClient(create_app(org.tidings)) as http:
        token = "Validation: Testing client application reachability <b>&"
        handshake = http.post("/api/push/exchange_online", params={"validationToken": token})
        assert (handshake.status_code, handshake.text) == (200, token)
        assert handshake.headers["content-type"].startswith("text/plain")
        assert http.post("/api/push/imap_smtp", content=b"{}").status_code == 404
        assert http.post("/api/push/nonsense", content=b"{}").status_code == 404
        assert http.post("/api/push/exchange_online", content=b"not json").status_code == 400
        notice = {"value": [{"subscriptionId": "nope", "clientState": "x"}]}
        assert http.post("/api/push/exchange_online", json=notice).status_code == 202
        long_token = {"validationToken": "x" * 5000}
        assert http.post("/api/push/exchange_online", params=long_token).status_code == 400

        def chunked_megabytes():  # no Content-Length: the body is cut off at the limit
            for _ in range(3):
                yield b"x" * 1_000_000

        too_big = http.post("/api/push/exchange_online", content=chunked_megabytes())
        assert too_big.status_code == 413


def test_only_a_notification_with_the_subscriptions_client_state_wakes_its_session():
    hub = GraphNotificationHub()

    def notice(state: str, **more: str) -> bytes:
        return json.dumps(
            {"value": [{"subscriptionId": "s1", "clientState": state, **more}]}
        ).encode()

    async def deliver() -> tuple[bool, frozenset[str], bool, frozenset[str]]:
        notices = hub.register("s1", "the-secret")
        hub.receive({}, notice("guessed"), {})
        hub.receive({}, notice("guessed", lifecycleEvent="subscriptionRemoved"), {})
        await asyncio.sleep(0)  # let any callback scheduled on this loop run
        woken_by_guess = notices.arrived.is_set()
        hub.receive({}, notice("the-secret"), {})
        await asyncio.wait_for(notices.arrived.wait(), 5)
        plain = notices.take()
        hub.receive({}, notice("the-secret", lifecycleEvent="missed"), {})
        hub.receive({}, notice("the-secret", lifecycleEvent="somethingNew"), {})
        await asyncio.wait_for(notices.arrived.wait(), 5)
        await asyncio.sleep(0)
        return woken_by_guess, plain, notices.arrived.is_set(), notices.take()

    assert asyncio.run(deliver()) == (False, frozenset(), True, frozenset({"missed"}))


def test_the_echo_of_tidings_own_category_write_wakes_nothing_but_a_persons_change_does():
    hub = GraphNotificationHub()

    def change(change_type: str, message_id: str) -> bytes:
        item = {"subscriptionId": "s1", "clientState": "the-secret", "changeType": change_type}
        return json.dumps({"value": [{**item, "resourceData": {"id": message_id}}]}).encode()

    async def deliver() -> list[bool]:
        notices = hub.register("s1", "the-secret")
        woken = []

        async def after(body: bytes) -> None:
            hub.receive({}, body, {})
            await asyncio.sleep(0)  # let the callback scheduled on this loop run
            woken.append(notices.arrived.is_set())
            notices.take()

        notices.expect_echo(["m1", "m2"])
        await after(change("updated", "m1"))  # the echo of Tidings' write
        await after(change("updated", "m1"))  # a person changed it again afterwards
        await after(change("created", "m2"))  # new mail is news, echo or not
        notices.withdraw_echo(["m2"])  # the write to m2 failed
        await after(change("updated", "m2"))
        notices.expect_echo(["m3"])
        await after(change("updated", "m4"))  # another message
        return woken

    assert asyncio.run(deliver()) == [False, True, True, True, True]


def test_a_subscribed_folder_still_looks_every_five_minutes_or_at_its_polling_interval():
    # Graph may stop notifying without a word: the wait for a notification is bounded.
    profile = ServerProfile(name="p", kind=ServerProfileKind.EXCHANGE_ONLINE)
    assert fallback_poll_seconds(profile) == 300.0
    profile.min_polling_interval_minutes = 60
    assert fallback_poll_seconds(profile) == 3600.0
