"""Test & Enable against a real Dovecot and a real SMTP server, for many mailboxes at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import Org, dovecot_profile
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.domain.mailbox import TestStatus
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind

USERS = {"dana@northwind.example": "dana-pass", "sam@northwind.example": "sam-pass"}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DovecotServer, SmtpServer]]:
    with (
        DovecotServer(tmp_path_factory.mktemp("dovecot"), USERS) as dovecot,
        SmtpServer(USERS) as smtp,
    ):
        yield dovecot, smtp


def _setup(org: Org, servers: tuple[DovecotServer, SmtpServer], *, trusted: bool = True) -> Caller:
    dovecot, smtp = servers
    org.add_user("sam", approved=True, enabled=False)
    profile = dovecot_profile(dovecot, smtp, name="Test servers", trusted=trusted)
    with org.tidings.uow() as uow:
        profile_id = uow.server_profiles.add(profile)
        for name in ("dana", "sam"):
            mailbox = uow.mailboxes.get(org.mailboxes[name])
            mailbox.profile_id = profile_id
            mailbox.enabled = False
            uow.mailboxes.save(mailbox)
        uow.commit()
    return Caller(org.users["dana"], frozenset(Privilege))


def _alerts(org: Org, name: str) -> list[str]:
    with org.tidings.uow() as uow:
        return [a.text for a in uow.mailboxes.get(org.mailboxes[name]).alerts]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_mailboxes_that_log_in_are_enabled_and_the_others_say_why(
    org: Org, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    # Several mailboxes at once: the right password enables, a wrong one names the fix.
    admin = _setup(org, servers)
    org.tidings.mailboxes.set_credentials(
        admin, org.mailboxes["dana"], "dana@northwind.example", "dana-pass"
    )
    org.tidings.mailboxes.set_credentials(
        admin, org.mailboxes["sam"], "sam@northwind.example", "nope"
    )
    reports = asyncio.run(
        org.tidings.mailboxes.test_and_enable(admin, [org.mailboxes["dana"], org.mailboxes["sam"]])
    )
    dana, sam = reports
    assert (dana.incoming.status, dana.outgoing.status, dana.enabled) == (
        TestStatus.SUCCESS,
        TestStatus.SUCCESS,
        True,
    )
    assert (sam.incoming.status, sam.enabled) == (TestStatus.FAILURE, False)
    assert sam.incoming.message == (
        "incoming: authentication failed: check the user name and password on the mailbox"
    )
    assert (
        sam.outgoing.message == "outgoing: authentication failed: check the user name and password"
    )
    assert "Test & Enable passed: enabled" in _alerts(org, "dana")
    assert sam.incoming.message in _alerts(org, "sam")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_untrusted_certificate_is_named_and_nothing_is_enabled(
    org: Org, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    # Verification is on by default: a private CA not configured means "not trusted".
    admin = _setup(org, servers, trusted=False)
    org.tidings.mailboxes.set_credentials(
        admin, org.mailboxes["dana"], "dana@northwind.example", "dana-pass"
    )
    [report] = asyncio.run(org.tidings.mailboxes.test_and_enable(admin, [org.mailboxes["dana"]]))
    assert report.incoming.message.startswith(
        "incoming: certificate not trusted for host 127.0.0.1"
    )
    assert report.incoming.permanent and not report.enabled


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_nothing_answering_is_a_transient_failure(
    org: Org, tmp_path: Path, closed_port: int
) -> None:
    # A closed port may open later: the failure is not permanent.
    port = closed_port
    org.add_user("sam", approved=True, enabled=False)
    profile = ServerProfile(
        name="Nowhere",
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="127.0.0.1",
        incoming_port=port,
        incoming_security=ConnectionSecurity.TLS,
        outgoing_host="127.0.0.1",
        outgoing_port=port,
        outgoing_security=ConnectionSecurity.TLS,
    )
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["sam"])
        mailbox.profile_id = uow.server_profiles.add(profile)
        uow.mailboxes.save(mailbox)
        uow.commit()
    admin = Caller(org.users["dana"], frozenset(Privilege))
    org.tidings.mailboxes.set_credentials(admin, org.mailboxes["sam"], "sam", "pw")
    [report] = asyncio.run(org.tidings.mailboxes.test_and_enable(admin, [org.mailboxes["sam"]]))
    assert report.incoming.message == (
        f"incoming: nothing answers at 127.0.0.1:{port}: check the host name and port"
    )
    assert not report.incoming.permanent and not report.enabled


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_pop3_mailbox_is_tested_by_its_pop3_login(
    org: Org, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    # POP3/SMTP profiles: incoming is a POP3 login over TLS, verified against the CA.
    dovecot, smtp = servers
    org.add_user("sam", approved=True, enabled=False)
    profile = ServerProfile(
        name="POP3",
        kind=ServerProfileKind.POP3_SMTP,
        incoming_host="127.0.0.1",
        incoming_port=dovecot.pop3s_port,
        incoming_security=ConnectionSecurity.TLS,
        outgoing_host="127.0.0.1",
        outgoing_port=smtp.port,
        outgoing_security=ConnectionSecurity.NONE,
        allow_insecure=True,
        options={"ca_file": str(dovecot.ca_file)},
    )
    org.use_profile(profile, {"dana": "dana-pass", "sam": "wrong"})
    admin = Caller(org.users["dana"], frozenset(Privilege))
    dana, sam = asyncio.run(
        org.tidings.mailboxes.test_and_enable(admin, [org.mailboxes["dana"], org.mailboxes["sam"]])
    )
    assert dana.incoming.message == f"incoming: signed in to 127.0.0.1:{dovecot.pop3s_port}"
    assert sam.incoming.message == (
        "incoming: authentication failed: check the user name and password on the mailbox"
    )
    assert (dana.enabled, sam.enabled) == (True, False)
