"""The EWS adapter's own choices, against the EWS contract fake: TLS pinned to the profile,
delegate access with a mailbox's own credentials, the first sync's cut-off date, and the
errors that a person must fix."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.builders import make_email
from tests.contract.ews_fake import FakeEwsServer
from tests.contract.ews_source import ews_profile
from tidings.adapters.ews.session import EwsFolderOpener
from tidings.adapters.ews.tester import EwsTester
from tidings.domain.credentials import Credential
from tidings.domain.errors import FolderMissingError, MailServerError
from tidings.domain.server_profile import CredentialSource

DANA = "dana@northwind.example"
SERVICE = Credential("svc@northwind.example", "svc-pass")


@pytest.fixture
def ews(tmp_path: Path) -> Iterator[FakeEwsServer]:
    with FakeEwsServer(tmp_path / "ews") as server:
        server.add_mailbox(DANA, password="dana-pass")
        server.set_service_account(SERVICE.username, SERVICE.password, may_impersonate=True)
        yield server


def test_the_profile_ca_file_is_what_tls_is_verified_against(ews, monkeypatch):
    # Without the profile's CA the fake's certificate is refused, even when requests'
    # environment names that CA: verification is the profile's alone.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ews.ca_file))
    profile = ews_profile(ews)
    del profile.options["ca_file"]
    check = asyncio.run(EwsTester().check_incoming(profile, SERVICE, DANA))
    assert not check.ok and check.permanent
    assert check.message.startswith("incoming: the EWS server's certificate is not trusted")
    trusted = asyncio.run(EwsTester().check_incoming(ews_profile(ews), SERVICE, DANA))
    assert trusted.ok, trusted.message


def test_a_mailbox_signs_in_with_its_own_credentials_without_impersonation(ews):
    profile = replace(ews_profile(ews), credential_source=CredentialSource.MAILBOX)
    ews.deliver(DANA, make_email())
    own = Credential(DANA, "dana-pass")

    async def first_page() -> tuple[int, bool]:
        session = await EwsFolderOpener()(profile, own, DANA, "INBOX")
        try:
            page = await session.changes(None, None)
            return len(page.added), page.more
        finally:
            await session.close()

    assert asyncio.run(first_page()) == (1, False)
    check = asyncio.run(EwsTester().check_incoming(profile, Credential(DANA, "wrong"), DANA))
    assert (check.ok, check.permanent) == (False, True)
    assert check.message == (
        "incoming: authentication failed: check the mailbox's user name and password"
    )


def test_the_first_sync_leaves_out_mail_received_before_the_profile_cut_off(ews):
    ews.deliver(
        DANA, make_email(message_id="<old@x>"), received_at=datetime(2026, 1, 5, tzinfo=UTC)
    )
    new = ews.deliver(
        DANA, make_email(message_id="<new@x>"), received_at=datetime(2026, 3, 1, tzinfo=UTC)
    )

    async def first_sync() -> tuple[tuple[str, ...], list[bytes]]:
        session = await EwsFolderOpener()(ews_profile(ews), SERVICE, DANA, "INBOX")
        try:
            page = await session.changes(None, datetime(2026, 2, 1, tzinfo=UTC))
            return page.added, [m.raw for m in await session.fetch(page.added)]
        finally:
            await session.close()

    added, raws = asyncio.run(first_sync())
    assert added == (new,)
    assert raws == [make_email(message_id="<new@x>")]


def test_a_missing_tracked_folder_is_said_and_an_unknown_mailbox_needs_a_person(ews):
    # A folder deleted or renamed in Outlook is not the mailbox's failure: it may come back.
    opener = EwsFolderOpener()
    with pytest.raises(FolderMissingError) as missing:
        asyncio.run(opener(ews_profile(ews), SERVICE, DANA, "Projects/Fabrikam"))
    assert not missing.value.permanent
    assert str(missing.value) == f"the mailbox {DANA} has no folder 'Projects/Fabrikam'"
    with pytest.raises(MailServerError) as unknown:
        asyncio.run(opener(ews_profile(ews), SERVICE, "nobody@northwind.example", "INBOX"))
    assert unknown.value.permanent
    assert "no mailbox for nobody@northwind.example" in str(unknown.value)


def test_per_user_oauth_is_refused_with_what_exchange_server_profiles_use(ews):
    # Credentials "OAuth" (a refresh token per mailbox) is not offered: auth=oauth is.
    profile = replace(ews_profile(ews), credential_source=CredentialSource.OAUTH)
    check = asyncio.run(EwsTester().check_outgoing(profile, SERVICE, DANA))
    assert (check.ok, check.permanent) == (False, True)
    assert "the profile's credentials (auth=oauth for an app registration's client" in check.message


def test_a_folder_listens_on_a_streaming_subscription_unless_the_profile_polls(ews):
    async def opened(profile) -> bool:
        session = await EwsFolderOpener()(profile, SERVICE, DANA, "INBOX")
        await session.close()
        return session.supports_push

    assert asyncio.run(opened(ews_profile(ews))) is True
    assert ews.operations(DANA).count("Subscribe") == 1
    polling = ews_profile(ews)
    polling.options["notifications"] = "polling"
    assert asyncio.run(opened(polling)) is False
    assert ews.operations(DANA).count("Subscribe") == 1


def test_closing_a_session_ends_its_open_streaming_connection(ews):
    # The listening thread is woken by the socket's shutdown, not by the stream's end (25
    # minutes away). Whether the stream broke before or after it was established, the wait
    # is over: "look again", or an error the engine no longer waits for.
    async def listen_then_close() -> bool:
        session = await EwsFolderOpener()(ews_profile(ews), SERVICE, DANA, "INBOX")
        listening = asyncio.ensure_future(session.wait_for_change(25 * 60))
        await asyncio.to_thread(ews.wait_for_request, "GetStreamingEvents", DANA)
        await session.close()
        await asyncio.wait({listening}, timeout=20)
        if listening.done() and listening.exception() is None:
            assert listening.result() is True
        return listening.done()

    assert asyncio.run(listen_then_close())
