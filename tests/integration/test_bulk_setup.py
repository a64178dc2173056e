"""Setting up many mailboxes against a real Dovecot and a real SMTP server: Test & Enable
runs side by side but never beyond the server profile's maximum concurrent connections, and
every step an operator takes is a command line away."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.builders import Org, dovecot_profile
from tests.conftest import TEST_SECRET_KEY
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.adapters.mail_servers import MailServerTester
from tidings.adapters.oauth.tokens import OAuthTokens
from tidings.adapters.passwords import Argon2PasswordHasher
from tidings.domain.credentials import Credential
from tidings.domain.people import SYSTEM_ADMINISTRATOR, Caller, Privilege
from tidings.domain.server_profile import ServerProfile
from tidings.domain.testing import ConnectionCheck
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.cli.main import app
from tidings.services.import_formats import ImportFormat
from tidings.services.mailboxes import MailboxAdminService, TestReport

STAFF = {f"staff{n}@northwind.example": f"staff{n}-pass" for n in range(9)}
LIMIT = 3


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DovecotServer, SmtpServer]]:
    with (
        DovecotServer(tmp_path_factory.mktemp("dovecot"), STAFF) as dovecot,
        SmtpServer(STAFF) as smtp,
    ):
        yield dovecot, smtp


def _profile(dovecot: DovecotServer, smtp: SmtpServer) -> ServerProfile:
    return dovecot_profile(dovecot, smtp, name="Staff Dovecot", max_concurrent_connections=LIMIT)


def _staff_csv() -> str:
    rows = [
        f"Staff {n},{address},,,Staff Dovecot,,,{STAFF[address]}\n"
        for n, address in enumerate(STAFF)
    ]
    return (
        "full_name,email,track_incoming,address,profile,incoming_method,username,password\n"
        + "".join(rows)
    )


class CountingTester:
    """The real tester, counting the mailboxes it is testing at the same time.

    The first tests wait until ``limit`` are under way together, which proves the tests
    run side by side (tested one after another, the first would wait in vain).
    """

    def __init__(self, real: MailServerTester, limit: int) -> None:
        self._real = real
        self._limit = limit
        self.in_flight = 0
        self.most = 0
        self._full: asyncio.Event | None = None

    async def check_incoming(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck:
        return await self._counted(self._real.check_incoming(profile, credential, address))

    async def check_outgoing(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> ConnectionCheck:
        return await self._counted(self._real.check_outgoing(profile, credential, address))

    async def _counted(self, check: Awaitable[ConnectionCheck]) -> ConnectionCheck:
        full = self._full = self._full or asyncio.Event()
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            if self.in_flight >= self._limit:
                full.set()
            # A guard against a hang, not a measure: tests run side by side within seconds.
            await asyncio.wait_for(full.wait(), 60)
            return await check
        finally:
            self.in_flight -= 1


def test_bulk_test_and_enable_runs_side_by_side_within_the_profiles_connection_limit(
    org: Org, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    # Nine mailboxes, a profile allowing three connections: three at a time, never four,
    # each reported as it finishes, and every one signed in to the real servers.
    dovecot, smtp = servers
    with org.tidings.uow() as uow:
        uow.server_profiles.add(_profile(dovecot, smtp))
        uow.commit()
    admin = Caller(org.users["dana"], frozenset(Privilege))
    source = io.BytesIO(_staff_csv().encode())
    imported = org.tidings.mailbox_import.import_mailboxes(admin, source, ImportFormat.CSV)
    assert imported.committed and len(imported.outcomes) == len(STAFF)
    ids = [o.mailbox_id or 0 for o in imported.outcomes]
    org.tidings.mailboxes.approve_email(admin, ids)

    tester = CountingTester(MailServerTester(OAuthTokens()), LIMIT)
    service = MailboxAdminService(org.tidings.uow, org.tidings.secrets, tester, org.tidings.clock)
    seen: list[TestReport] = []
    reports = asyncio.run(service.test_and_enable(admin, ids, seen.append))

    assert tester.most == LIMIT
    assert [r.address for r in reports] == list(STAFF)
    assert sorted(r.address for r in seen) == sorted(STAFF)
    assert all(r.enabled for r in reports), [r.incoming.message for r in reports]


runner = CliRunner()


def test_an_operator_sets_up_many_mailboxes_and_everything_else_from_the_command_line(
    sqlite_url: str, servers: tuple[DovecotServer, SmtpServer], tmp_path: Path
) -> None:
    # Import, run again, approve all, test & enable all, then the settings the console
    # offers: connection limit, sync methods, Track incoming, API tokens.
    dovecot, smtp = servers
    env = {
        "TIDINGS_DATABASE_URL": sqlite_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
        "COLUMNS": "200",
    }

    def tidings(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args), env=env)
        assert result.exit_code == code, result.output
        return result.output

    tidings(
        "admin",
        "add-profile",
        "Staff Dovecot",
        "--incoming-host",
        "127.0.0.1",
        "--incoming-port",
        str(dovecot.imaps_port),
        "--outgoing-host",
        smtp.host,
        "--outgoing-port",
        str(smtp.port),
        "--outgoing-security",
        "none",
        "--allow-insecure",
        "--ca-file",
        str(dovecot.ca_file),
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(_staff_csv() + "Nobody,nobody@northwind.example,,,Elsewhere,,,pw\n")
    refused = tidings("admin", "import-mailboxes", str(bad), code=2)
    assert "row 10, profile: no email server profile named 'Elsewhere'" in refused
    assert "Nothing was written" in refused

    staff = tmp_path / "staff.csv"
    staff.write_text(_staff_csv())
    assert "Mailboxes: 9 created, 0 exists" in tidings("admin", "import-mailboxes", str(staff))
    again = tidings("admin", "import-mailboxes", str(staff))
    assert "row 1: staff0@northwind.example: mailbox exists" in again
    assert "Mailboxes: 0 created, 9 exists" in again

    approved = tidings("admin", "approve", "--all")
    assert "[1/9] staff0@northwind.example: approved" in approved
    assert "Approved: 9 mailbox(es)." in approved
    tidings("admin", "set-profile", "staff dovecot", "--max-connections", "2")
    tested = tidings("admin", "test-enable", "--all")
    assert "[9/9] " in tested and "Enabled: 9 of 9 mailbox(es)." in tested
    assert tested.count(": enabled") == 9

    some = tmp_path / "some.txt"
    some.write_text("staff1@northwind.example\n# a comment\nnobody@northwind.example\n")
    one = tidings("admin", "test-enable", "--file", str(some), code=1)
    assert "[1/1] staff1@northwind.example: enabled" in one
    assert "no mailbox with the address nobody@northwind.example" in one

    changed = tidings("admin", "set-mailbox", "staff2@northwind.example", "--outgoing", "none")
    assert "outgoing none" in changed and "not enabled" in changed
    options = tidings(
        "admin", "set-options", "staff3@northwind.example", "--track-incoming", "all_email_messages"
    )
    assert "Track incoming email: All email messages" in options

    created = tidings(
        "admin", "tokens", "create", "nightly export", "--user", "staff3@northwind.example"
    )
    token = created.strip().splitlines()[-1]
    assert token.startswith("tdg_")
    listed = tidings("admin", "tokens", "list", "--user", "staff3@northwind.example")
    assert "nightly export" in listed and token not in listed and token[:8] in listed
    assert "API token 1 revoked." in tidings("admin", "tokens", "revoke", "1")

    profile = tidings(
        "admin", "set-profile", "Staff Dovecot", "--max-connections", "100001", code=2
    )
    assert "maximum concurrent connections must be between 1 and 100,000" in profile


def test_the_api_approves_and_tests_many_mailboxes_named_by_address_or_all_with_progress(
    org: Org, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    # An admin's script: Approve Email by address (an unknown address refuses everything),
    # then every mailbox pending approval, then Test & Enable of every mailbox not enabled,
    # followed line by line as each finishes.
    dovecot, smtp = servers
    with org.tidings.uow() as uow:
        uow.server_profiles.add(_profile(dovecot, smtp))
        user = uow.directory.get_user_by_email("dana@northwind.example")
        user.password_hash = Argon2PasswordHasher("cheapest").hash("dana-password-1")
        user.role_ids = frozenset({org.roles[SYSTEM_ADMINISTRATOR]})
        uow.directory.save_user(user)
        uow.commit()
    admin = Caller(org.users["dana"], frozenset(Privilege))
    source = io.BytesIO(_staff_csv().encode())
    assert org.tidings.mailbox_import.import_mailboxes(admin, source, ImportFormat.CSV).committed
    auth = ("dana@northwind.example", "dana-password-1")
    first, second, *rest = STAFF

    with TestClient(create_app(org.tidings)) as http:
        both = http.post("/api/mailboxes/approve", json={"ids": [1], "all": True}, auth=auth)
        assert both.status_code == 422
        unknown = http.post(
            "/api/mailboxes/approve",
            json={"addresses": [first, "nobody@northwind.example", "ghost@northwind.example"]},
            auth=auth,
        )
        assert unknown.status_code == 404
        assert "nobody@northwind.example, ghost@northwind.example" in unknown.json()["detail"]
        pending = http.get("/api/mailboxes/views/pending_approval", auth=auth).json()
        assert set(STAFF) <= {m["address"] for m in pending}

        named = http.post(
            "/api/mailboxes/approve", json={"addresses": [second.upper(), first]}, auth=auth
        )
        assert [m["address"] for m in named.json()] == [second, first]
        everyone = http.post("/api/mailboxes/approve", json={"all": True}, auth=auth).json()
        assert set(rest) <= {m["address"] for m in everyone}
        assert first not in {m["address"] for m in everyone}  # approved already: not pending

        lines: list[dict[str, object]] = []
        with http.stream(
            "POST",
            "/api/mailboxes/test-and-enable",
            json={"all": True},
            headers={"Accept": "application/x-ndjson"},
            auth=auth,
        ) as streamed:
            assert streamed.headers["content-type"].startswith("application/x-ndjson")
            lines = [json.loads(line) for line in streamed.iter_lines() if line]
    by_address = {str(line["address"]): line for line in lines}
    assert set(STAFF) <= set(by_address)
    assert all(by_address[a]["enabled"] for a in STAFF), lines
