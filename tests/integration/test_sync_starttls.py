"""Sync over STARTTLS: the certificate is verified, and a server without STARTTLS is refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.builders import Org, TickingClock, make_email
from tests.conftest import settings_for
from tests.integration.sync_run import USERS, SyncRun, service_for
from tests.servers.dovecot import DovecotServer
from tidings.bootstrap import bootstrap
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind
from tidings.domain.stored import ActivityFilter


def starttls_profile(server: DovecotServer, *, trust: bool = True) -> ServerProfile:
    """IMAP on the plain port, upgraded by STARTTLS, verified against the server's CA."""
    return ServerProfile(
        name="Dovecot STARTTLS",
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="127.0.0.1",
        incoming_port=server.imap_port,
        incoming_security=ConnectionSecurity.STARTTLS,
        outgoing_host="127.0.0.1",
        options={"ca_file": str(server.ca_file)} if trust else {},
    )


def test_sync_over_starttls_tracks_new_mail(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Caught-up mail and mail pushed by IDLE both arrive over the upgraded connection.
    org, run = sync_org
    org.use_profile(starttls_profile(server), {"dana": "dana-pass"})
    server.deliver(
        "dana@northwind.example", make_email(subject="Over TLS", message_id="<t1@c.example>")
    )
    run.start(service_for(run))
    run.wait_for(lambda: len(run.results) == 1)
    server.deliver(
        "dana@northwind.example", make_email(subject="Pushed", message_id="<t2@c.example>")
    )
    run.wait_for(lambda: len(run.results) == 2)
    subjects = {a.subject for a in org.tidings.queries.activities(ActivityFilter()).items}
    assert subjects == {"Over TLS", "Pushed"}
    logins = [
        line
        for line in server.log_file.read_text().splitlines()
        if "Login: user=<dana@northwind.example>" in line
    ]
    assert logins and all(", TLS," in line for line in logins)  # Dovecot's word for it


def test_an_untrusted_certificate_after_starttls_is_a_permanent_failure(
    sync_org: tuple[Org, SyncRun], server: DovecotServer
) -> None:
    # Without the server's CA the upgraded connection is refused, and the alert says why.
    org, run = sync_org
    org.use_profile(starttls_profile(server, trust=False), {"sam": "sam-pass"})
    run.start(service_for(run, max_permanent_failures=1))
    run.wait_for(lambda: any(a.target.address == "sam@northwind.example" for a in run.alerts))
    [alert] = [a for a in run.alerts if a.target.address == "sam@northwind.example"]
    assert alert.text.startswith("certificate not trusted for host 127.0.0.1: ")
    assert alert.disabled


def test_a_server_without_starttls_is_refused_and_never_sees_a_password(
    tmp_path: Path, sqlite_url: str
) -> None:
    # No fallback to plain text: sync fails for good, and so does Test & Enable.
    with DovecotServer(tmp_path / "plain", USERS, tls=False) as server:
        holder: dict[str, SyncRun] = {}
        tidings = bootstrap(
            settings_for(sqlite_url), TickingClock(), listener=lambda e: holder["run"].listen(e)
        )
        holder["run"] = run = SyncRun(tidings)
        try:
            org = Org.create(tidings)
            org.use_profile(starttls_profile(server), {"dana": "dana-pass"})
            run.start(service_for(run, max_permanent_failures=1))
            run.wait_for(lambda: len(run.alerts) == 1)
            run.stop()
            expected = (
                f"the server at 127.0.0.1:{server.imap_port} does not offer STARTTLS: enable "
                "it on the server or use implicit TLS; Tidings never falls back to an "
                "unencrypted connection"
            )
            assert (run.alerts[0].text, run.alerts[0].disabled) == (expected, True)
            admin = Caller(org.users["dana"], frozenset(Privilege))
            [report] = asyncio.run(
                tidings.mailboxes.test_and_enable(admin, [org.mailboxes["dana"]])
            )
            assert (report.enabled, report.incoming.message) == (False, f"incoming: {expected}")
        finally:
            run.stop()
            tidings.close()
        assert "Login: user=<dana@northwind.example>" not in server.log_file.read_text()


def test_pop3_over_stls_signs_in_and_a_server_without_it_is_refused(
    tmp_path: Path, sqlite_url: str
) -> None:
    # POP3's STARTTLS (STLS, RFC 2595) is required as strictly as IMAP's.
    tidings = bootstrap(settings_for(sqlite_url), TickingClock())
    try:
        org = Org.create(tidings)
        admin = Caller(org.users["dana"], frozenset(Privilege))
        reports, ports = {}, {}
        for tls in (True, False):
            with DovecotServer(tmp_path / f"pop3-{tls}", USERS, tls=tls) as server:
                profile = ServerProfile(
                    name=f"POP3 {tls}",
                    kind=ServerProfileKind.POP3_SMTP,
                    incoming_host="127.0.0.1",
                    incoming_port=server.pop3_port,
                    incoming_security=ConnectionSecurity.STARTTLS,
                    outgoing_host="127.0.0.1",
                    options={"ca_file": str(server.ca_file)},
                )
                org.use_profile(profile, {"dana": "dana-pass"})
                mailbox = org.mailboxes["dana"]
                [reports[tls]] = asyncio.run(tidings.mailboxes.test_and_enable(admin, [mailbox]))
                ports[tls] = server.pop3_port
                logins = [
                    line
                    for line in server.log_file.read_text().splitlines()
                    if "pop3-login: Info: Login: user=<dana@northwind.example>" in line
                ]
                assert all(", TLS," in line for line in logins)
                assert bool(logins) is tls
    finally:
        tidings.close()
    assert reports[True].incoming.message == f"incoming: signed in to 127.0.0.1:{ports[True]}"
    assert reports[False].incoming.message == (
        f"incoming: the server at 127.0.0.1:{ports[False]} does not offer STARTTLS (STLS): enable it "
        "on the server or use implicit TLS; Tidings never falls back to an unencrypted "
        "connection"
    )
    assert reports[False].incoming.permanent
