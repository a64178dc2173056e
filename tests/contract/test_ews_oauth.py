"""EWS with OAuth (``auth=oauth``): an app registration signs in at the identity platform
(the Graph fake's token endpoint) and impersonates each mailbox of the EWS fake. First the
adapter alone, then Tidings' sync engine, sending and Test & Enable, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.builders import Org, make_email
from tests.contract.ews_oauth_source import (
    SECRET,
    EwsOAuthSource,
    ews_oauth_profile,
    ews_oauth_source,
)
from tests.integration.sync_run import SyncRun, org_syncing, service_for
from tidings.adapters.ews.session import EwsFolderOpener
from tidings.adapters.ews.tester import EwsTester
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.mailbox import TestStatus
from tidings.domain.outgoing import OutboxPhase
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ServerProfile

DANA = "dana@northwind.example"


@pytest.fixture
def ews(tmp_path: Path) -> Iterator[EwsOAuthSource]:
    with ews_oauth_source(tmp_path / "ews-oauth") as source:
        yield source


def profile_of(ews: EwsOAuthSource) -> ServerProfile:
    return ews_oauth_profile(ews.server, ews.entra, ews.app)


def login(ews: EwsOAuthSource, secret: str = SECRET) -> Credential:
    return Credential(ews.app.client_id, secret)


def check(profile: ServerProfile, credential: Credential) -> tuple[bool, str]:
    result = asyncio.run(EwsTester().check_incoming(profile, credential, DANA))
    return result.ok, result.message


async def first_page(opener: EwsFolderOpener, ews: EwsOAuthSource) -> int:
    session = await opener(profile_of(ews), login(ews), DANA, "INBOX")
    try:
        return len((await session.changes(None, None)).added)
    finally:
        await session.close()


# -- the adapter ------------------------------------------------------------------------------


def test_the_app_reads_a_mailbox_by_impersonating_it_with_its_token(ews):
    # The fake answers a Bearer token only with ExchangeImpersonation: the Inbox is read.
    ews.server.add_mailbox(DANA)
    ews.deliver(DANA, make_email())
    assert asyncio.run(first_page(EwsFolderOpener(), ews)) == 1
    assert "SyncFolderItems" in ews.server.operations(DANA)


def test_a_wrong_client_secret_fails_in_an_admins_words_for_good(ews):
    ews.server.add_mailbox(DANA)
    result = asyncio.run(EwsTester().check_incoming(profile_of(ews), login(ews, "nope"), DANA))
    assert (result.ok, result.permanent) == (False, True)
    assert result.message == (
        "incoming: Microsoft sign-in: the client secret was refused: enter the secret's Value "
        "(not its Secret ID) from the app registration's Certificates & secrets page "
        "(AADSTS7000215)"
    )
    assert ews.server.operations(DANA) == []


def test_an_unknown_tenant_is_named(ews):
    ews.server.add_mailbox(DANA)
    tenant = str(uuid.uuid4())
    profile = profile_of(ews)
    profile.options["tenant_id"] = tenant
    ok, message = check(profile, login(ews))
    assert not ok
    assert f"tenant {tenant} was not found: check the Directory (tenant) ID" in message


def test_an_expired_token_is_fetched_again_and_the_request_passes(ews):
    # Exchange answers the expired token with 401; one new token, and the request is sent
    # again on it, without an error.
    ews.server.add_mailbox(DANA)
    ews.deliver(DANA, make_email())

    async def pages() -> list[int]:
        session = await EwsFolderOpener()(profile_of(ews), login(ews), DANA, "INBOX")
        try:
            found = [len((await session.changes(None, None)).added)]
            # Twice: a token fetched after a refusal and accepted may age out in its turn.
            for _ in range(2):
                ews.entra.expire_tokens()
                found.append(len((await session.changes(None, None)).added))
            return found
        finally:
            await session.close()

    assert asyncio.run(pages()) == [1, 1, 1]
    assert len(ews.entra.live_tokens) == 1  # the one fetched after the last refusal


def test_one_token_serves_every_mailbox_of_the_app(ews):
    # The MSAL cache is shared: a second mailbox opened later signs in no more.
    ews.server.add_mailbox(DANA)
    ews.server.add_mailbox("sam@northwind.example")
    tokens = GraphTokens()
    opener = EwsFolderOpener(tokens=tokens)
    asyncio.run(first_page(opener, ews))
    profile = profile_of(ews)
    tester = EwsTester(tokens)
    result = asyncio.run(tester.check_incoming(profile, login(ews), "sam@northwind.example"))
    assert result.ok, result.message
    assert len(ews.entra.live_tokens) == 1


def test_a_token_without_full_access_as_app_is_refused_even_fresh(ews):
    # 401 for a token without the role; a fresh token is no better: a person must grant it.
    ews.server.add_mailbox(DANA)
    with ews.entra.lock:
        ews.app.exchange_roles = ()
    result = asyncio.run(EwsTester().check_incoming(profile_of(ews), login(ews), DANA))
    assert (result.ok, result.permanent) == (False, True)
    assert result.message.startswith(
        "incoming: Exchange refused the app's access token, even a fresh one: grant the app "
        "registration the full_access_as_app application permission of Office 365 Exchange "
        "Online with admin consent"
    )
    assert "The token contains no permissions" in result.message


def test_oauth_needs_the_ews_url(ews):
    profile = profile_of(ews)
    profile = replace(profile, options={**profile.options, "ews_url": ""})
    ok, message = check(profile, login(ews))
    assert not ok
    assert message == (
        "incoming: OAuth needs the profile's EWS URL (Exchange Online: "
        "https://outlook.office365.com/EWS/Exchange.asmx)"
    )


# -- Tidings end to end -----------------------------------------------------------------------


@pytest.fixture
def synced(ews: EwsOAuthSource, database_url: str) -> Iterator[tuple[Org, SyncRun]]:
    with org_syncing(database_url, ("dana", "sam")) as (org, run):
        ews.connect(org, ["dana", "sam"])
        yield org, run


def subjects(run: SyncRun) -> list[str]:
    queries = run.tidings.queries
    return sorted(
        queries.activity(r.activity_id).activity.subject
        for r in run.results
        if r.activity_id is not None
    )


def email(n: int) -> bytes:
    return make_email(subject=f"Quote {n}", message_id=f"<ews-oauth-{n}@contoso.example>")


def test_new_mail_syncs_and_an_expired_token_does_not_stop_it(ews, synced):
    _org, run = synced
    ews.deliver(DANA, email(1))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    ews.entra.expire_tokens()
    ews.deliver(DANA, email(2))
    run.wait_for(lambda: len(run.results) == 2)
    assert subjects(run) == ["Quote 1", "Quote 2"]
    assert run.alerts == []


def test_crm_email_is_sent_once_with_the_apps_token(ews, synced):
    org, _run = synced
    caller = Caller(org.users["dana"], frozenset(Privilege))
    activity_id = org.tidings.outgoing.queue(
        caller,
        mailbox_id=org.mailboxes["dana"],
        to=["maria@contoso.example"],
        cc=[],
        subject="Quote for 500 seats",
        body="Hello Maria,\n",
        regarding=org.records["deal"],
    )
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert result.phase is OutboxPhase.SENT, result.error
    [raw] = ews.sent(DANA)
    sent = message_from_bytes(raw, policy=policy.default)
    assert sent["Message-ID"] == org.tidings.queries.activity(activity_id).activity.message_id
    assert ews.server.operations(DANA).count("CreateItem") == 1


def test_a_wrong_secret_alerts_in_an_admins_words(ews, synced):
    org, run = synced
    ews.break_credentials(org, "dana")
    run.start(service_for(run))
    run.wait_for(lambda: any(a.target.address == DANA for a in run.alerts))
    [text, *_] = [a.text for a in run.alerts if a.target.address == DANA]
    assert "Microsoft sign-in: the client secret was refused" in text


def test_test_and_enable_enables_with_the_app_and_not_with_a_wrong_secret(ews, synced):
    org, _run = synced
    admin = Caller(org.users["dana"], frozenset(Privilege))
    ews.break_credentials(org, "dana")
    good, bad = asyncio.run(
        org.tidings.mailboxes.test_and_enable(admin, [org.mailboxes["sam"], org.mailboxes["dana"]])
    )
    assert (good.incoming.status, good.outgoing.status) == (
        TestStatus.SUCCESS,
        TestStatus.SUCCESS,
    ), (good.incoming.message, good.outgoing.message)
    assert good.enabled
    assert bad.incoming.status is TestStatus.FAILURE
    assert bad.incoming.message.startswith(
        "incoming: Microsoft sign-in: the client secret was refused"
    )
    assert not bad.enabled
