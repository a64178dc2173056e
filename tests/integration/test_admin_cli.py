"""The documented way (docs/sync.md) to point Tidings at a mail server: profile, user, mailbox, credentials,
Approve Email, Test & Enable — all from the command line, against real servers."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import TEST_SECRET_KEY, settings_for
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.bootstrap import bootstrap
from tidings.domain.credentials import Direction
from tidings.domain.people import Caller, Privilege, User
from tidings.domain.server_profile import CredentialSource
from tidings.entrypoints.cli.main import app

runner = CliRunner()


def test_an_operator_sets_up_an_imap_mailbox_and_test_and_enable_enables_it(
    sqlite_url: str, dovecot: DovecotServer, smtp_server: SmtpServer
) -> None:
    # Every step a newcomer runs, in order; a wrong step says what is wrong.
    env = {
        "TIDINGS_DATABASE_URL": sqlite_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
        "COLUMNS": "200",
    }

    def tidings(*args: str, stdin: str | None = None) -> str:
        result = runner.invoke(app, list(args), env=env, input=stdin)
        assert result.exit_code == 0, result.output
        return result.output

    tidings(
        "admin",
        "add-profile",
        "Dovecot",
        "--incoming-host",
        "127.0.0.1",
        "--incoming-port",
        str(dovecot.imaps_port),
        "--outgoing-host",
        smtp_server.host,
        "--outgoing-port",
        str(smtp_server.port),
        "--outgoing-security",
        "none",
        "--allow-insecure",
        "--ca-file",
        str(dovecot.ca_file),
    )
    tidings("admin", "add-user", "Dana Reyes", "dana@northwind.example", "--role", "tracking")
    tidings(
        "admin",
        "add-mailbox",
        "dana@northwind.example",
        "--owner",
        "dana@northwind.example",
        "--profile",
        "Dovecot",
    )
    tidings(
        "admin",
        "set-credentials",
        "dana@northwind.example",
        "--username",
        "dana@northwind.example",
        "--password-stdin",
        stdin="dana-pass\n",
    )
    tidings("admin", "approve", "dana@northwind.example")
    output = tidings("admin", "test-enable", "dana@northwind.example")
    assert "dana@northwind.example: enabled" in output
    assert "success: incoming: signed in to 127.0.0.1" in output
    listing = tidings("admin", "mailboxes")
    assert "dana@northwind.example" in listing and "approved" in listing
    assert "Test & Enable passed: enabled" in listing
    duplicate = runner.invoke(
        app,
        [
            "admin",
            "add-mailbox",
            "dana@northwind.example",
            "--owner",
            "dana@northwind.example",
            "--profile",
            "Dovecot",
        ],
        env=env,
    )
    assert duplicate.exit_code == 2
    assert "a mailbox with the address dana@northwind.example exists" in duplicate.output


def test_a_profile_of_a_mail_api_kind_takes_its_settings_and_a_secret_from_a_file(
    sqlite_url: str, tmp_path: Path
) -> None:
    env = {"TIDINGS_DATABASE_URL": sqlite_url, "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY}
    secret = tmp_path / "client-secret.txt"
    secret.write_text("s3cret-value~from-entra")
    args = ["admin", "add-profile", "Contoso 365", "--kind", "exchange_online"]
    added = runner.invoke(
        app,
        [
            *args,
            "--option", "tenant_id=11111111-2222-3333-4444-555555555555",
            "--option", "client_id=66666666-7777-8888-9999-000000000000",
            "--credentials-from", "profile",
            "--profile-username", "66666666-7777-8888-9999-000000000000",
            "--secret-file", str(secret),
        ],
        env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    tidings = bootstrap(settings_for(sqlite_url))
    [view] = tidings.server_profiles.list_profiles(Caller(User("A", "a@x"), frozenset(Privilege)))
    assert view.profile.options == {
        "tenant_id": "11111111-2222-3333-4444-555555555555",
        "client_id": "66666666-7777-8888-9999-000000000000",
    }
    assert view.profile.credential_source is CredentialSource.PROFILE
    assert view.credential_usernames[Direction.INCOMING] == "66666666-7777-8888-9999-000000000000"
    assert b"s3cret-value" not in Path(sqlite_url.removeprefix("sqlite:///")).read_bytes()
    tidings.close()

    wrong = runner.invoke(app, [*args[:2], "Other", "--option", "tenant_id"], env=env)
    assert wrong.exit_code == 2 and "--option takes KEY=VALUE" in wrong.output
    hostless = runner.invoke(app, [*args[:2], "IMAP without host"], env=env)
    assert hostless.exit_code == 2 and "the incoming server needs a host name" in hostless.output
