"""The folder picker of folder-level tracking against a real Dovecot: the mailbox's real
folders (IMAP LIST), at most 25 tracked, a regarding record per folder found by name, and a
typed folder name when the server cannot be reached."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org
from tests.integration.test_console import signed_in_admin
from tests.servers.dovecot import DovecotServer
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind

USERS = {"dana@northwind.example": "dana-pass"}
DANA = "dana@northwind.example"


@pytest.fixture(scope="module")
def dovecot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DovecotServer]:
    with DovecotServer(tmp_path_factory.mktemp("dovecot"), USERS) as server:
        for name in ("Customers", "Customers/Contoso", "Projects"):
            server.create_folder(DANA, name)
        yield server


def _profile(dovecot: DovecotServer, port: int | None = None) -> ServerProfile:
    return ServerProfile(
        name="Dovecot",
        kind=ServerProfileKind.IMAP_SMTP,
        incoming_host="127.0.0.1",
        incoming_port=port or dovecot.imaps_port,
        incoming_security=ConnectionSecurity.TLS,
        outgoing_host="127.0.0.1",
        outgoing_port=25,
        outgoing_security=ConnectionSecurity.NONE,
        allow_insecure=True,
        connection_timeout_seconds=5,
        options={"ca_file": str(dovecot.ca_file)},
    )


@pytest.fixture
def admin(org: Org) -> TestClient:
    return signed_in_admin(org)


def _offered(html: str) -> dict[str, bool]:
    picker = html.split('id="folder-picker"')[1].split("</form>")[0]
    found = re.findall(r'<input type="checkbox" name="folder" value="([^"]*)"( checked)?>', picker)
    return {name: bool(checked) for name, checked in found}


def _tracked(org: Org) -> dict[str, object]:
    with org.tidings.uow() as uow:
        return {r.folder: r.regarding for r in uow.mailboxes.folder_rules(org.mailboxes["dana"])}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_picker_offers_the_servers_real_folders_and_tracks_those_ticked(
    admin: TestClient, org: Org, dovecot: DovecotServer
) -> None:
    org.use_profile(_profile(dovecot), {"dana": "dana-pass"})
    url = f"/mailboxes/{org.mailboxes['dana']}/folders"
    page = admin.get(url)
    assert page.status_code == 200
    # The Inbox is always tracked: it is never offered.
    assert _offered(page.text) == {
        "Customers": False,
        "Customers/Contoso": False,
        "Drafts": False,
        "Projects": False,
        "Sent": False,
        "Trash": False,
    }
    done = admin.post(
        url, data={"folder": ["Customers/Contoso", "Projects"]}, follow_redirects=False
    )
    assert done.status_code == 303
    assert _tracked(org) == {"Customers/Contoso": None, "Projects": None}
    assert _offered(admin.get(url).text)["Projects"] is True

    # A regarding record per folder, found by name as on an activity.
    found = admin.get(url, params={"folder": "Projects", "find": "Contoso"}).text
    assert "Set regarding: Contoso</button>" in found
    account = org.records["contoso"]
    admin.post(
        f"{url}/regarding",
        data={"folder": "Projects", "kind": account.kind.value, "record_id": str(account.id)},
    )
    assert _tracked(org) == {"Customers/Contoso": None, "Projects": account}
    shown = admin.get(url).text.split('id="folder-rules"')[1]
    assert "<td>Projects</td><td>Contoso</td>" in shown
    # Saving the ticks again keeps each folder's regarding; unticking stops tracking.
    admin.post(url, data={"folder": ["Projects"]})
    assert _tracked(org) == {"Projects": account}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unreachable_server_is_said_and_a_folder_name_may_be_typed(
    admin: TestClient, org: Org, dovecot: DovecotServer, closed_port: int
) -> None:
    # A port nothing listens on: the page says the list is unavailable, typing still works.
    org.use_profile(_profile(dovecot, port=closed_port), {"dana": "dana-pass"})
    url = f"/mailboxes/{org.mailboxes['dana']}/folders"
    page = admin.get(url)
    assert page.status_code == 200
    assert (
        "The folder list is not available: the server&#39;s folders could not be read" in page.text
    )
    assert "cannot connect to 127.0.0.1" in page.text
    admin.post(url, data={"typed": "Archive/2026"})
    assert _tracked(org) == {"Archive/2026": None}
    # What is tracked stays offered, ticked, though the server cannot be asked.
    assert _offered(admin.get(url).text) == {"Archive/2026": True}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_at_most_25_folders_and_never_a_folder_not_tracked_for_regarding(
    admin: TestClient, org: Org, dovecot: DovecotServer
) -> None:
    org.use_profile(_profile(dovecot), {"dana": "dana-pass"})
    url = f"/mailboxes/{org.mailboxes['dana']}/folders"
    answer = admin.post(url, data={"folder": [f"F{n}" for n in range(26)]})
    assert answer.status_code == 422
    assert "at most 25 folders can be tracked per mailbox" in answer.text
    assert _tracked(org) == {}
    answer = admin.post(
        f"{url}/regarding", data={"folder": "Projects", "kind": "account", "record_id": "1"}
    )
    assert answer.status_code == 422
    assert "the folder &#39;Projects&#39; is not tracked" in answer.text
