"""The Gmail adapter's edges against the Gmail fake: tokens cached and renewed, Google's
refusals in an admin's words, sending that hands the message over exactly once, and pushes
that wake sync only with Pub/Sub's genuine token."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import make_email
from tests.contract.gmail_fake import FakeGmailServer
from tests.contract.gmail_fake_api import MODIFY
from tests.contract.gmail_source import CLIENT_ID, gmail_profile
from tidings.adapters.gmail import GmailApi
from tidings.adapters.gmail.push import GmailPushHub
from tidings.adapters.gmail.push_auth import PushCertificates, PushCheck
from tidings.domain.credentials import Credential
from tidings.domain.errors import CursorExpiredError, MailServerError
from tidings.domain.server_profile import CredentialSource, ServerProfile

DANA = "dana@northwind.example"
TOKEN = "POST /token urn:ietf:params:oauth:grant-type:jwt-bearer"
TOPIC = "projects/tidings-test/topics/gmail"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGmailServer]:
    with FakeGmailServer(tmp_path) as server:
        server.add_mailbox(DANA)
        yield server


@pytest.fixture
def profile(fake: FakeGmailServer) -> ServerProfile:
    return gmail_profile(fake, CredentialSource.PROFILE)


@pytest.fixture
def key(fake: FakeGmailServer) -> Credential:
    account = fake.auth.create_service_account(CLIENT_ID)
    fake.grant_delegation(CLIENT_ID, [MODIFY])
    return Credential(account["client_email"], json.dumps(account))


async def rounds(api: GmailApi, profile: ServerProfile, credential: Credential, n: int) -> int:
    """Open the inbox and run ``n`` rounds, as sync would; how many ids it found."""
    session = await api.open_folder(profile, credential, DANA, "INBOX")
    try:
        page = await session.changes(None, None)
        found = len(page.added)
        for _ in range(n - 1):
            page = await session.changes(page.cursor, None)
            found += len(page.added)
        return found
    finally:
        await session.close()


def test_a_token_is_fetched_once_and_again_only_after_google_refuses_it(
    fake: FakeGmailServer, profile: ServerProfile, key: Credential
) -> None:
    api = GmailApi()
    fake.deliver(DANA, make_email())
    assert asyncio.run(rounds(api, profile, key, 3)) == 1
    assert asyncio.run(rounds(api, profile, key, 2)) == 1
    assert fake.requests.count(TOKEN) == 1
    fake.expire_tokens()
    asyncio.run(rounds(api, profile, key, 2))
    assert fake.requests.count(TOKEN) == 2


def test_an_old_history_id_is_a_cursor_expired_error(
    fake: FakeGmailServer, profile: ServerProfile, key: Credential
) -> None:
    async def scenario() -> None:
        session = await GmailApi().open_folder(profile, key, DANA, "INBOX")
        page = await session.changes(None, None)
        fake.forget_history()
        try:
            await session.changes(page.cursor, None)
        finally:
            await session.close()

    with pytest.raises(CursorExpiredError, match="Gmail no longer knows history id"):
        asyncio.run(scenario())


def test_a_listing_page_token_gmail_no_longer_takes_lists_the_folder_again(
    fake: FakeGmailServer, profile: ServerProfile, key: Credential
) -> None:
    # A cursor stored mid-listing holds a page token; if Gmail refuses it, start over.
    async def scenario() -> None:
        session = await GmailApi().open_folder(profile, key, DANA, "INBOX")
        try:
            await session.changes("list:1000::bm90LWEtdG9rZW4", None)
        finally:
            await session.close()

    with pytest.raises(CursorExpiredError, match="page token"):
        asyncio.run(scenario())


def test_a_revoked_consent_asks_the_user_to_grant_access_again(
    fake: FakeGmailServer, profile: ServerProfile
) -> None:
    fake.auth.add_client("web-client", "web-secret")
    refresh = fake.auth.consent("web-client", DANA, [MODIFY])
    info = {
        "type": "authorized_user",
        "client_id": "web-client",
        "client_secret": "web-secret",
        "refresh_token": refresh,
    }
    consent = Credential(DANA, json.dumps(info))
    assert asyncio.run(rounds(GmailApi(), profile, consent, 1)) == 0
    fake.auth.revoke_refresh_token(refresh)
    with pytest.raises(MailServerError) as caught:
        asyncio.run(rounds(GmailApi(), profile, consent, 1))
    assert caught.value.permanent
    assert str(caught.value).startswith(
        "the Google consent for dana@northwind.example was revoked or has expired"
    )


@pytest.mark.parametrize("secret", ["hunter2", '{"type": "external_account"}', "[]"])
def test_a_credential_that_is_no_google_key_says_what_to_paste(
    profile: ServerProfile, secret: str
) -> None:
    with pytest.raises(MailServerError, match="neither a service account key") as caught:
        asyncio.run(rounds(GmailApi(), profile, Credential(DANA, secret), 1))
    assert caught.value.permanent


def test_an_untrusted_certificate_is_a_permanent_failure(
    fake: FakeGmailServer, profile: ServerProfile, key: Credential
) -> None:
    profile.options.pop("ca_file")
    with pytest.raises(MailServerError, match="certificate Tidings does not trust") as caught:
        asyncio.run(rounds(GmailApi(), profile, key, 1))
    assert caught.value.permanent


def test_the_message_is_handed_over_right_after_before_data(
    fake: FakeGmailServer, profile: ServerProfile, key: Credential
) -> None:
    # before_data runs once the token is in hand and before the one POST that sends.
    raw = make_email(sender=DANA, to="maria@contoso.example")
    seen: list[list[bytes]] = []

    async def before_data() -> None:
        seen.append(fake.sent(DANA))

    asyncio.run(
        GmailApi().sender.send(profile, key, DANA, ["maria@contoso.example"], raw, before_data)
    )
    assert seen == [[]]
    assert fake.sent(DANA) == [raw]


def test_a_refused_token_fails_the_send_before_anything_is_handed_over(
    fake: FakeGmailServer, profile: ServerProfile, key: Credential
) -> None:
    fake.revoke_delegation(CLIENT_ID)
    called: list[bool] = []

    async def before_data() -> None:
        called.append(True)

    with pytest.raises(MailServerError, match="domain-wide delegation not granted") as caught:
        asyncio.run(
            GmailApi().sender.send(profile, key, DANA, ["m@contoso.example"], b"x", before_data)
        )
    assert caught.value.permanent
    assert called == []


def test_a_throttled_send_stays_queued_to_be_tried_again(
    fake: FakeGmailServer, profile: ServerProfile, key: Credential
) -> None:
    async def before_data() -> None:
        pass

    fake.throttle(1, retry_after=30)
    raw = make_email(sender=DANA)
    with pytest.raises(MailServerError) as caught:
        asyncio.run(GmailApi().sender.send(profile, key, DANA, ["m@c.example"], raw, before_data))
    assert not caught.value.permanent
    assert getattr(caught.value, "retry_after_seconds", None) == 30
    assert fake.sent(DANA) == []


def test_only_the_push_subscriptions_genuine_token_rings_the_mailboxs_sessions(
    fake: FakeGmailServer, profile: ServerProfile, caplog: pytest.LogCaptureFixture
) -> None:
    # At the hub, where a ring shows at once: while no session waits nothing can be checked;
    # a token for another audience or of a key Google never published rings nothing; the
    # genuine one rings dana's sessions that expect it, not sam's nor one without push options.
    audience, account = "https://tidings.northwind.example/api/push/gmail", "push@p.example"
    profile.options |= {
        "push_audience": audience,
        "push_service_account": account,
        "push_certs_url": fake.certs_url,
    }
    pubsub = fake.pubsub
    subscription = fake.subscribe_push(TOPIC, "https://unused.example/", account, audience)
    body = json.dumps(pubsub.envelope(subscription, {"emailAddress": DANA, "historyId": "7"}))
    hub = GmailPushHub()

    def push(token: str) -> int:
        return hub.receive({}, body.encode(), {"authorization": f"Bearer {token}"}).status

    async def deliver() -> tuple[object, ...]:
        unheard = push(pubsub.token(subscription))
        dana = hub.subscribe(DANA.upper(), PushCheck.of(profile))
        sam = hub.subscribe("sam@northwind.example", PushCheck.of(profile))
        unchecked = hub.subscribe(DANA)
        with caplog.at_level(logging.INFO, "tidings.adapters.gmail.push"):
            refused = [push(wrong_audience), push(pubsub.forged_token(subscription))]
        await asyncio.sleep(0)  # let any ring scheduled on this loop run
        rung_by_refused = dana.event.is_set()
        accepted = push(pubsub.token(subscription))
        woken = await dana.wait(5)
        return (
            unheard,
            refused,
            rung_by_refused,
            accepted,
            woken,
            sam.event.is_set(),
            unchecked.event.is_set(),
        )

    wrong_audience = pubsub.token(subscription, audience="https://evil.example/")
    assert asyncio.run(deliver()) == (403, [403, 403], False, 204, True, False, False)
    # An admin learns why (here: the audience), never the token itself.
    refusals = [r.getMessage() for r in caplog.records]
    assert refusals[0] == (
        'a Gmail push was refused: InvalidValue: "Token has wrong audience https://evil.example/,'
        " expected one of ['https://tidings.northwind.example/api/push/gmail']\""
    )
    assert wrong_audience not in caplog.text
    # Google's certificates were fetched once, then kept.
    assert fake.requests.count("GET /oauth2/v1/certs") == 1


def test_a_token_of_a_key_google_published_since_is_accepted_once_certificates_are_fetched_again(
    fake: FakeGmailServer, profile: ServerProfile
) -> None:
    # Google rotates its signing keys: a token naming a key the kept certificates lack makes
    # Tidings fetch them again early, but no more often than REFETCH_AFTER allows.
    account = "push@p.example"
    profile.options |= {"push_audience": "aud", "push_service_account": account}
    profile.options["push_certs_url"] = fake.certs_url
    subscription = fake.subscribe_push(TOPIC, "https://unused.example/", account, "aud")
    body = json.dumps(fake.pubsub.envelope(subscription, {"emailAddress": DANA}))
    certificates = PushCertificates()
    hub = GmailPushHub(certificates)

    def push() -> int:
        headers = {"authorization": f"Bearer {fake.pubsub.token(subscription)}"}
        return hub.receive({}, body.encode(), headers).status

    async def deliver() -> list[int]:
        hub.subscribe(DANA, PushCheck.of(profile))
        first = push()
        fake.pubsub.rotate_key()
        too_soon = push()  # the certificates were fetched less than a minute ago
        certificates.refetch_after = 0.0  # as if a minute had passed
        return [first, too_soon, push(), push()]

    assert asyncio.run(deliver()) == [204, 403, 204, 204]
    assert fake.requests.count("GET /oauth2/v1/certs") == 2
