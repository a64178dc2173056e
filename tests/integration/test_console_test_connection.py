"""Test connection on a server profile's page, against a real Dovecot (implicit TLS) and a
real SMTP server: each direction's result, clear error text, passwords never shown again,
and the profile's mailboxes listed beside it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org, dovecot_profile
from tests.integration.test_console import ADMIN, BASE, signed_in_admin
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.entrypoints.api.app import create_app

USERS = {"dana@northwind.example": "dana-pass", "sam@northwind.example": "sam-pass"}
WRONG = "not-Sams-password-0451"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DovecotServer, SmtpServer]]:
    with (
        DovecotServer(tmp_path_factory.mktemp("dovecot"), USERS) as dovecot,
        SmtpServer(USERS) as smtp,
    ):
        yield dovecot, smtp


def _profile(org: Org, servers: tuple[DovecotServer, SmtpServer], *, trusted: bool) -> int:
    dovecot, smtp = servers
    profile = dovecot_profile(dovecot, smtp, name="Test servers", trusted=trusted)
    return org.use_profile(profile, {"dana": "dana-pass"})


@pytest.fixture
def admin(org: Org) -> TestClient:
    return signed_in_admin(org)


def _results(html: str) -> dict[str, tuple[str, str]]:
    table = html.split('id="connection-test"')[1].split("</table>")[0]
    rows = re.findall(
        r"<tr class=\"test-\w+\"><td>(\w+)</td><td>([^<]*)</td><td>([^<]*)</td>", table
    )
    return {direction: (result, details) for direction, result, details in rows}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_test_connection_logs_in_each_way_with_a_mailbox_credential(
    admin: TestClient, org: Org, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    profile_id = _profile(org, servers, trusted=True)
    page = admin.get(f"/profiles/{profile_id}").text
    grid = page.split('id="profile-mailboxes"')[1].split("</table>")[0]
    assert f'<a href="/mailboxes/{org.mailboxes["dana"]}">dana@northwind.example</a>' in grid
    assert "<td>Dana</td>" in grid
    answer = admin.post(f"/profiles/{profile_id}/test", data={"mailbox_id": org.mailboxes["dana"]})
    assert answer.status_code == 200
    dovecot, smtp = servers
    assert _results(answer.text) == {
        "Incoming": (
            "success",
            f"incoming: signed in to 127.0.0.1:{dovecot.imaps_port} and opened the Inbox",
        ),
        "Outgoing": ("success", f"outgoing: signed in to 127.0.0.1:{smtp.port}"),
    }
    # A test changes no mailbox.
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        assert mailbox is not None and mailbox.alerts == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_typed_wrong_password_fails_clearly_and_is_never_shown_again(
    admin: TestClient, org: Org, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    profile_id = _profile(org, servers, trusted=True)
    answer = admin.post(
        f"/profiles/{profile_id}/test",
        data={"username": "sam@northwind.example", "password": WRONG},
    )
    results = _results(answer.text)
    assert results["Incoming"][0] == "failure"
    assert "authentication failed" in results["Incoming"][1]
    assert results["Outgoing"][0] == "failure"
    assert WRONG not in answer.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_untrusted_certificate_is_named_for_the_incoming_server(
    admin: TestClient, org: Org, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    profile_id = _profile(org, servers, trusted=False)
    answer = admin.post(f"/profiles/{profile_id}/test", data={"mailbox_id": org.mailboxes["dana"]})
    incoming = _results(answer.text)["Incoming"]
    assert incoming[0] == "failure"
    assert incoming[1].startswith("incoming: certificate not trusted for host 127.0.0.1")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_test_connection_says_what_is_missing_beside_the_form(
    admin: TestClient, org: Org, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    profile_id = _profile(org, servers, trusted=True)
    org.add_user("erin")  # a mailbox of another profile (none)
    for form, problem in (
        ({}, "choose a mailbox, or enter a user name and password"),
        ({"username": "sam@northwind.example"}, "enter both a user name and a password"),
    ):
        answer = admin.post(f"/profiles/{profile_id}/test", data=form)
        assert answer.status_code == 422
        assert f'<p class="error" role="alert" id="test-error">{problem}' in answer.text
    # A mailbox the form does not offer, a user name no server takes: beside each field.
    answer = admin.post(
        f"/profiles/{profile_id}/test",
        data={"mailbox_id": org.mailboxes["erin"], "username": "x" * 400, "password": "pw-typed"},
    )
    assert answer.status_code == 422
    assert 'id="f-test-mailbox-id-error">choose one of the listed options<' in answer.text
    assert 'aria-describedby="f-test-username-error"' in answer.text
    assert "pw-typed" not in answer.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_tests_a_profile_connection_too(
    org: Org, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    profile_id = _profile(org, servers, trusted=True)
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    api = TestClient(create_app(org.tidings), base_url=BASE)
    api.auth = ADMIN
    answer = api.post(
        f"/api/server-profiles/{profile_id}/test",
        json={"username": "sam@northwind.example", "password": WRONG},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["tried_as"] == "sam@northwind.example"
    assert body["incoming"]["status"] == "failure"
    assert "authentication failed" in body["incoming"]["message"]
    assert WRONG not in answer.text
    good = api.post(
        f"/api/server-profiles/{profile_id}/test", json={"mailbox_id": org.mailboxes["dana"]}
    ).json()
    assert (good["incoming"]["status"], good["outgoing"]["status"]) == ("success", "success")
    assert api.post(f"/api/server-profiles/{profile_id}/test", json={}).status_code == 400
