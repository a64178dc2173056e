"""IMAP and SMTP with XOAUTH2: a real Dovecot checking tokens at a real OAuth server.

Dovecot's ``oauth2`` passdb introspects every bearer token at the test authorization server
(``tests.servers.oauth``); aiosmtpd checks them with the same server. Tidings refreshes access
tokens from each mailbox's refresh token, with the profile's client secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.builders import Org, TickingClock, make_email
from tests.conformance.xoauth2_source import XOAuth2Source, imap_xoauth2_source
from tests.conftest import settings_for
from tests.integration.sync_run import SyncRun, service_for
from tests.servers.dovecot import DovecotServer, issue_certificates
from tests.servers.oauth import OAuthServer
from tests.servers.smtp import SmtpServer
from tidings.adapters.oauth.tokens import BAD_CLIENT, REVOKED, XOAUTH2_REFUSED
from tidings.bootstrap import bootstrap
from tidings.domain.mailbox import TestStatus
from tidings.domain.outgoing import OutboxPhase
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import (
    ConnectionSecurity,
    CredentialSource,
    ServerProfile,
    ServerProfileKind,
)
from tidings.domain.stored import ActivityFilter
from tidings.services.server_profiles import ProfileSecret

DANA = "dana@northwind.example"


@dataclass
class Servers:
    """Dovecot and aiosmtpd taking XOAUTH2, and the authorization server behind both."""

    oauth: OAuthServer
    dovecot: DovecotServer
    smtp: SmtpServer


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    # One CA for all three, as the profile names one ca_file for its servers.
    directory = tmp_path / "dovecot"
    certificates = issue_certificates(directory / "tls")
    with OAuthServer(certificates) as oauth:
        dovecot = DovecotServer(
            directory, {DANA: "dana-pass"}, oauth2_introspection_url=oauth.introspection_url
        )
        with dovecot, SmtpServer(bearer_owner=oauth.address_for) as smtp:
            yield Servers(oauth, dovecot, smtp)


def _use_oauth(
    org: Org,
    servers: Servers,
    *,
    client_secret: str | None = None,
    granted_to: str = DANA,
    sent_copy: bool = False,
) -> str:
    """Dana's mailbox on an OAuth profile, with a refresh token granted to ``granted_to``
    (returned)."""
    profile = ServerProfile(
        name="Mail with OAuth",
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="127.0.0.1",
        incoming_port=servers.dovecot.imaps_port,
        incoming_security=ConnectionSecurity.TLS,
        outgoing_host=servers.smtp.host,
        outgoing_port=servers.smtp.port,
        outgoing_security=ConnectionSecurity.NONE,
        allow_insecure=True,
        credential_source=CredentialSource.OAUTH,
        options={
            "ca_file": str(servers.dovecot.ca_file),
            "token_url": servers.oauth.token_url,
            "client_id": servers.oauth.client_id,
            "save_sent_copy": "yes" if sent_copy else "no",
        },
    )
    refresh_token = servers.oauth.grant(granted_to)
    profile_id = org.use_profile(profile, {"dana": refresh_token})
    secret = ProfileSecret(servers.oauth.client_id, client_secret or servers.oauth.client_secret)
    org.tidings.server_profiles.set_credentials(_admin(org), profile_id, secret)
    return refresh_token


def _admin(org: Org) -> Caller:
    return Caller(org.users["dana"], frozenset(Privilege))


def _alerts(org: Org) -> list[str]:
    with org.tidings.uow() as uow:
        return [a.text for a in uow.mailboxes.get(org.mailboxes["dana"]).alerts]


def _is_enabled(org: Org) -> bool:
    with org.tidings.uow() as uow:
        return uow.mailboxes.get(org.mailboxes["dana"]).enabled


@pytest.fixture
def oauth_sync(database_url: str, servers: Servers) -> Iterator[tuple[Org, SyncRun]]:
    holder: dict[str, SyncRun] = {}
    tidings = bootstrap(
        settings_for(database_url), TickingClock(), listener=lambda e: holder["run"].listen(e)
    )
    holder["run"] = run = SyncRun(tidings)
    yield Org.create(tidings), run
    run.stop()
    tidings.close()


def _subjects(org: Org) -> list[str]:
    return sorted(a.subject for a in org.tidings.queries.activities(ActivityFilter()).items)


def test_sync_of_an_oauth_mailbox_tracks_new_mail(
    oauth_sync: tuple[Org, SyncRun], servers: Servers
) -> None:
    # The Inbox is read over IMAP signed in with XOAUTH2; new mail arrives by IDLE.
    org, run = oauth_sync
    _use_oauth(org, servers)
    servers.dovecot.deliver(DANA, make_email(subject="Before", message_id="<o1@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    servers.dovecot.deliver(DANA, make_email(subject="After", message_id="<o2@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert _subjects(org) == ["After", "Before"]
    assert "method=XOAUTH2" in servers.dovecot.log_tail(200)
    assert run.alerts == []


def test_an_access_token_the_server_no_longer_takes_is_refreshed(
    oauth_sync: tuple[Org, SyncRun], servers: Servers
) -> None:
    # The cached token expires at the authorization server; the reconnect asks for a new one.
    org, run = oauth_sync
    _use_oauth(org, servers)
    servers.dovecot.deliver(DANA, make_email(subject="First", message_id="<e1@c.example>"))
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    assert servers.oauth.token_requests == 1
    servers.oauth.expire_access_tokens()
    servers.dovecot.restart()  # drops the connection: sync signs in again
    servers.dovecot.deliver(DANA, make_email(subject="Second", message_id="<e2@c.example>"))
    run.wait_for(lambda: len(run.results) == 2)
    assert servers.oauth.token_requests == 2
    assert not [alert for alert in run.alerts if alert.disabled]
    assert REVOKED not in _alerts(org)


def test_a_revoked_refresh_token_alerts_in_the_admins_words_and_disables(
    oauth_sync: tuple[Org, SyncRun], servers: Servers
) -> None:
    # invalid_grant is permanent: someone must sign in again, and the alert says so.
    org, run = oauth_sync
    servers.oauth.revoke(_use_oauth(org, servers))
    run.start(service_for(run))
    run.wait_for(lambda: any(alert.disabled for alert in run.alerts))
    alerts = _alerts(org)
    assert alerts.count(REVOKED) == 3
    assert alerts[-1].startswith("Mailbox disabled after 3 permanent failures in a row")
    assert not _is_enabled(org)


def _disable(org: Org) -> None:
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        mailbox.enabled = False
        uow.mailboxes.save(mailbox)
        uow.commit()


def test_test_and_enable_signs_in_with_xoauth2_and_enables(org: Org, servers: Servers) -> None:
    # Both checks sign in with a fresh access token: incoming IMAP and outgoing SMTP.
    _use_oauth(org, servers)
    _disable(org)
    [report] = asyncio.run(
        org.tidings.mailboxes.test_and_enable(_admin(org), [org.mailboxes["dana"]])
    )
    assert (report.incoming.status, report.outgoing.status, report.enabled) == (
        TestStatus.SUCCESS,
        TestStatus.SUCCESS,
        True,
    )
    assert servers.oauth.token_requests == 2


def test_test_and_enable_names_a_revoked_refresh_token_and_does_not_enable(
    org: Org, servers: Servers
) -> None:
    # invalid_grant in the admin's words, for both directions; the mailbox stays disabled.
    servers.oauth.revoke(_use_oauth(org, servers))
    _disable(org)
    [report] = asyncio.run(
        org.tidings.mailboxes.test_and_enable(_admin(org), [org.mailboxes["dana"]])
    )
    assert (report.incoming.message, report.outgoing.message) == (
        f"incoming: {REVOKED}",
        f"outgoing: {REVOKED}",
    )
    assert report.incoming.permanent and not report.enabled
    assert f"incoming: {REVOKED}" in _alerts(org)
    assert not _is_enabled(org)


def test_test_and_enable_names_a_wrong_client_secret(org: Org, servers: Servers) -> None:
    # invalid_client: the profile's registration is wrong, not the mailbox's token.
    _use_oauth(org, servers, client_secret="not-the-secret")
    _disable(org)
    [report] = asyncio.run(
        org.tidings.mailboxes.test_and_enable(_admin(org), [org.mailboxes["dana"]])
    )
    assert (report.incoming.message, report.outgoing.message, report.enabled) == (
        f"incoming: {BAD_CLIENT}",
        f"outgoing: {BAD_CLIENT}",
        False,
    )


def test_a_token_for_someone_else_is_refused_by_the_mail_servers(
    org: Org, servers: Servers
) -> None:
    # The authorization server issues it, but Dovecot and SMTP refuse it for Dana's address.
    _use_oauth(org, servers, granted_to="sam@northwind.example")
    _disable(org)
    [report] = asyncio.run(
        org.tidings.mailboxes.test_and_enable(_admin(org), [org.mailboxes["dana"]])
    )
    assert (report.incoming.message, report.outgoing.message, report.enabled) == (
        f"incoming: {XOAUTH2_REFUSED}",
        f"outgoing: {XOAUTH2_REFUSED}",
        False,
    )
    assert report.incoming.permanent


def test_outgoing_email_is_sent_through_xoauth2(org: Org, servers: Servers) -> None:
    # The owner's SMTP server sees an XOAUTH2 sign-in as the owner, and the message once;
    # the copy in Sent is appended over IMAP, signed in the same way.
    _use_oauth(org, servers, sent_copy=True)
    activity_id = org.tidings.outgoing.queue(
        _admin(org),
        mailbox_id=org.mailboxes["dana"],
        to=["maria@contoso.example"],
        subject="Quote",
        body="Hello Maria,\n",
    )
    [result] = asyncio.run(org.tidings.outgoing.send_pending())
    assert result.phase is OutboxPhase.SENT
    [message] = servers.smtp.wait_for(1)
    message_id = org.tidings.queries.activity(activity_id).activity.message_id
    assert (message.login, message.rcpt_tos) == (DANA, ("maria@contoso.example",))
    assert f"Message-ID: {message_id}".encode() in message.content
    found = servers.dovecot.doveadm(
        "search", "-u", DANA, "mailbox", "Sent", "header", "Message-ID", message_id.strip("<>")
    )
    assert found.strip(), "the copy is not in Sent"
    assert servers.oauth.token_requests == 1  # SMTP and IMAP shared the cached access token


def test_the_conformance_source_sets_up_breaks_and_renumbers_like_an_admin_would(
    org: Org, tmp_path: Path
) -> None:
    # What the conformance suite will drive: credentials that pass Test & Enable, revoked ones
    # that fail in the admin's words, and a new UIDVALIDITY on every folder.
    with imap_xoauth2_source(tmp_path / "source") as source:
        assert isinstance(source, XOAuth2Source)
        source.connect(org, ["dana"])
        _disable(org)
        mailbox = [org.mailboxes["dana"]]
        [passed] = asyncio.run(org.tidings.mailboxes.test_and_enable(_admin(org), mailbox))
        before = source.dovecot.uidvalidity(DANA, "INBOX")
        source.lose_cursors()
        assert source.dovecot.uidvalidity(DANA, "INBOX") != before
        source.break_credentials(org, "dana")
        [failed] = asyncio.run(org.tidings.mailboxes.test_and_enable(_admin(org), mailbox))
    assert (passed.enabled, failed.incoming.message) == (True, f"incoming: {REVOKED}")
