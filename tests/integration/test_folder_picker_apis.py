"""The folder picker of Exchange Server (EWS FindFolder, Deep traversal) and Gmail (its
labels) mailboxes, from the vendors' contract fakes: the names offered are the names sync
opens; a refused login or an unreachable server is said, without its secret, and a POP3
mailbox is said to have only the Inbox."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org
from tests.contract.ews_fake import FakeEwsServer
from tests.contract.ews_source import SERVICE_PASSWORD, EwsSource
from tests.contract.gmail_fake import FakeGmailServer
from tests.contract.gmail_source import GmailSource
from tests.integration.test_console import ADMIN, BASE, signed_in_admin
from tidings.adapters.ews.folder_list import FolderEntry, folder_paths
from tidings.adapters.ews.session import EwsFolderOpener
from tidings.adapters.gmail import GmailApi
from tidings.adapters.gmail.contract import label_folders
from tidings.domain.credentials import Credential, Direction
from tidings.domain.errors import FieldValueError
from tidings.domain.people import Caller, Privilege
from tidings.domain.server_profile import ConnectionSecurity, ServerProfile, ServerProfileKind
from tidings.entrypoints.api.app import create_app
from tidings.services.credentials import load_credential
from tidings.services.folder_picker import ServerFolders
from tidings.services.personal_options import FolderRuleInput

DANA = "dana@northwind.example"


def _admin(org: Org) -> Caller:
    return Caller(org.users["dana"], frozenset(Privilege))


def _picked(org: Org) -> ServerFolders:
    return asyncio.run(org.tidings.folder_picker.server_folders(_admin(org), org.mailboxes["dana"]))


def _credential(org: Org) -> tuple[ServerProfile, Credential]:
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["dana"])
        assert mailbox is not None and mailbox.profile_id is not None
        profile = uow.server_profiles.get(mailbox.profile_id)
        assert profile is not None
        credential = load_credential(
            uow, org.tidings.secrets, profile, mailbox.id or 0, Direction.INCOMING
        )
    assert credential is not None
    return profile, credential


def _offered(html: str) -> list[str]:
    picker = html.split('id="folder-picker"')[1].split("</form>")[0]
    return re.findall(r'<input type="checkbox" name="folder" value="([^"]*)"', picker)


@pytest.fixture
def admin(org: Org) -> TestClient:
    return signed_in_admin(org)


# -- Exchange Server ---------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_exchange_server_mailbox_offers_its_mail_folders_as_sync_opens_them(
    org: Org, tmp_path: Path
) -> None:
    with FakeEwsServer(tmp_path) as ews:
        EwsSource(ews).connect(org, ["dana"])
        for path in ("Customers/Contoso", "Projects", "Inbox/Follow-up"):
            ews.create_folder(DANA, path)
        ews.create_folder(DANA, "Projects/Team calendar", folder_class="IPF.Appointment")
        # A display name holding "/" cannot be written as a path sync would walk.
        ews.add_folder_named(DANA, "", "Q1/Q2")
        # Folders Outlook hides (PR_ATTR_HIDDEN) are not offered, nor what lies below them;
        # one whose flag is set to false is an ordinary folder.
        ews.create_folder(DANA, "Conversation Action Settings/Below")
        ews.set_hidden(DANA, "Conversation Action Settings", True)
        ews.create_folder(DANA, "Sync Issues")
        ews.set_hidden(DANA, "Sync Issues", True)
        ews.set_hidden(DANA, "Projects", False)
        # More folders than one FindFolder page (100) holds: the next page is asked for.
        for number in range(105):
            ews.create_folder(DANA, f"Archive/{number:03d}")
        found = _picked(org)
        assert found.problem is None
        assert found.names == sorted(
            [
                "Archive",
                *(f"Archive/{n:03d}" for n in range(105)),
                "Customers",
                "Customers/Contoso",
                "Inbox/Follow-up",
                "Projects",
                "Sent Items",
            ]
        )
        # One Deep FindFolder from the top, paged: not a request per folder.
        assert ews.operations(DANA).count("FindFolder") == 2

        # Every name offered is one sync opens (a few of the 105 archives stand for all).
        profile, credential = _credential(org)
        opener = EwsFolderOpener()

        async def open_all(names: list[str]) -> None:
            for name in names:
                session = await opener(profile, credential, DANA, name)
                await session.close()

        offered = [n for n in found.names if not n.startswith("Archive/")] + ["Archive/104"]
        asyncio.run(open_all(offered))


def test_folder_paths_leave_out_what_sync_could_not_walk_to() -> None:
    folders = {
        "a": FolderEntry("Projects", "top", "IPF.Note"),
        "b": FolderEntry("Contoso", "a", None),
        "c": FolderEntry("Q1/Q2", "top", "IPF.Note"),
        "d": FolderEntry("Below a slash", "c", "IPF.Note"),
        "e": FolderEntry("Orphan", "not-listed", "IPF.Note"),
        "f": FolderEntry("Contacts", "top", "IPF.Contact"),
        "g": FolderEntry("Mail under contacts", "f", "IPF.Note"),
        "h": FolderEntry("RSS Feeds", "top", "IPF.Note.OutlookHomepage"),
        "i": FolderEntry("Sync Issues", "top", "IPF.Note", hidden=True),
        "j": FolderEntry("Below hidden", "i", "IPF.Note"),
        "x": FolderEntry("Loop", "y", "IPF.Note"),
        "y": FolderEntry("Loop", "x", "IPF.Note"),
    }
    assert sorted(folder_paths(folders, "top")) == [
        "Contacts/Mail under contacts",
        "Projects",
        "Projects/Contoso",
        "RSS Feeds",
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_refused_exchange_login_is_said_without_the_password(org: Org, tmp_path: Path) -> None:
    with FakeEwsServer(tmp_path) as ews:
        source = EwsSource(ews)
        source.connect(org, ["dana"])
        source.break_credentials(org, "dana")
        found = _picked(org)
    assert found.names == []
    assert found.problem == (
        "the server's folders could not be read: authentication failed: check the service "
        "account's user name and password"
    )
    assert "not-the-password" not in found.problem
    assert SERVICE_PASSWORD not in found.problem


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unreachable_exchange_server_is_said_on_the_page(
    org: Org, admin: TestClient, tmp_path: Path
) -> None:
    with FakeEwsServer(tmp_path) as ews:
        EwsSource(ews).connect(org, ["dana"])
        ews.create_folder(DANA, "Projects")
        url = f"/mailboxes/{org.mailboxes['dana']}/folders"
        page = admin.get(url)
        assert page.status_code == 200
        assert "Sent Items" in _offered(page.text)
        assert "Projects" in _offered(page.text)
        assert 'id="server-folders"' in page.text
    # The fake is gone: nothing answers at its URL any more.
    down = admin.get(url)
    assert down.status_code == 200
    assert "The folder list is not available: the server&#39;s folders could not be" in down.text
    assert (
        "cannot reach the EWS server (Connection refused): check the profile&#39;s EWS URL"
        in down.text
    )
    assert SERVICE_PASSWORD not in down.text
    assert 'id="f-typed"' in down.text


# -- Gmail -------------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_gmail_mailbox_offers_its_labels_as_sync_opens_them(org: Org, tmp_path: Path) -> None:
    with FakeGmailServer(tmp_path) as gmail:
        GmailSource(gmail).connect(org, ["dana"])
        for name in ("Projects/Contoso", "Customers"):
            gmail.create_label(DANA, name)
        # Hidden from Gmail's label list, yet a label sync follows.
        gmail.create_label(DANA, "Receipts", hidden=True)
        found = _picked(org)
        assert found.problem is None
        # User labels by name, and the system labels a person files mail under; not the
        # Inbox (always tracked), nor SPAM, TRASH, DRAFT, UNREAD or the Inbox's tabs.
        assert found.names == [
            "Customers",
            "IMPORTANT",
            "Projects/Contoso",
            "Receipts",
            "SENT",
            "STARRED",
        ]

        profile, credential = _credential(org)
        api = GmailApi()

        async def open_all() -> None:
            for name in found.names:
                session = await api.open_folder(profile, credential, DANA, name)
                await session.close()

        asyncio.run(open_all())


def test_label_folders_reads_user_labels_and_trackable_system_ones() -> None:
    body = {
        "labels": [
            {"id": "INBOX", "name": "INBOX", "type": "system"},
            {"id": "SPAM", "name": "SPAM", "type": "system"},
            {"id": "SENT", "name": "SENT", "type": "system"},
            {"id": "CATEGORY_SOCIAL", "name": "CATEGORY_SOCIAL", "type": "system"},
            {
                "id": "Label_7",
                "name": "Hidden one",
                "type": "user",
                "labelListVisibility": "labelHide",
            },
            {"id": "Label_8", "name": "Projects/Contoso", "type": "user"},
            "not a label",
        ]
    }
    assert label_folders(body) == ["Hidden one", "Projects/Contoso", "SENT"]
    assert label_folders({}) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_refused_google_key_is_said_without_the_key_and_the_page_lists_labels(
    org: Org, admin: TestClient, tmp_path: Path
) -> None:
    with FakeGmailServer(tmp_path) as gmail:
        source = GmailSource(gmail)
        source.connect(org, ["dana"])
        gmail.create_label(DANA, "Projects/Contoso")
        url = f"/mailboxes/{org.mailboxes['dana']}/folders"
        page = admin.get(url)
        assert page.status_code == 200
        assert _offered(page.text) == ["IMPORTANT", "Projects/Contoso", "SENT", "STARRED"]

        source.break_credentials(org, "dana")
        _, forged = _credential(org)
        found = _picked(org)
        assert found.names == []
        assert found.problem is not None
        assert found.problem.startswith("the server's folders could not be read: ")
        private_key = json.loads(forged.password)["private_key"]
        assert private_key.splitlines()[1] not in found.problem
        down = admin.get(url)
    assert down.status_code == 200
    assert 'id="server-problem"' in down.text
    assert private_key.splitlines()[1] not in down.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unreachable_gmail_api_is_said(org: Org, tmp_path: Path) -> None:
    with FakeGmailServer(tmp_path) as gmail:
        GmailSource(gmail).connect(org, ["dana"])
    found = _picked(org)
    assert found.names == []
    assert found.problem is not None
    assert "did not answer" in found.problem


# -- POP3 --------------------------------------------------------------------------------


def _use_pop3(org: Org, port: int) -> None:
    pop3 = ServerProfile(
        name="POP3",
        kind=ServerProfileKind.POP3_SMTP,
        incoming_host="127.0.0.1",
        incoming_port=port,
        incoming_security=ConnectionSecurity.TLS,
        outgoing_host="127.0.0.1",
    )
    org.use_profile(pop3, {"dana": "dana-pass"})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_pop3_mailbox_is_said_to_have_only_the_inbox(
    org: Org, admin: TestClient, closed_port: int
) -> None:
    _use_pop3(org, closed_port)
    found = _picked(org)
    assert found == ServerFolders([], inbox_only=True)
    url = f"/mailboxes/{org.mailboxes['dana']}/folders"
    page = admin.get(url)
    assert page.status_code == 200
    assert "read over POP3, which has only the Inbox" in page.text
    assert 'id="f-typed"' not in page.text
    assert _offered(page.text) == []
    # A folder chosen before (under another profile) is shown, to be unticked.
    org.add_folder_rule("dana", "Projects")
    page = admin.get(url)
    assert _offered(page.text) == ["Projects"]
    assert "chosen before and are not synced" in page.text


def test_no_folder_rule_is_taken_for_a_pop3_mailbox_yet_one_chosen_before_can_go(
    org: Org, admin: TestClient, closed_port: int
) -> None:
    # Sync reads only the Inbox over POP3: a folder rule would be kept and never used.
    _use_pop3(org, closed_port)
    dana = org.mailboxes["dana"]
    api = TestClient(create_app(org.tidings), base_url=BASE)
    added = api.post(f"/api/mailboxes/{dana}/folder-rules", json={"folder": "Projects"}, auth=ADMIN)
    assert added.status_code == 422, added.text
    assert added.json()["detail"] == (
        "body.folder: the mailbox is read over POP3, which has only the Inbox: "
        "there are no other folders to track"
    )
    replaced = api.put(f"/api/mailboxes/{dana}/folder-rules", json=[{"folder": "A"}], auth=ADMIN)
    assert replaced.status_code == 422
    with pytest.raises(FieldValueError, match="POP3, which has only the Inbox"):
        org.tidings.personal_options.add_folder_rule(_admin(org), dana, FolderRuleInput("B"))
    page = admin.post(f"/mailboxes/{dana}/folders", data={"folder": ["Projects"]})
    assert page.status_code == 422
    assert "POP3, which has only the Inbox" in page.text
    assert org.tidings.personal_options.folder_rules(_admin(org), dana) == []
    org.add_folder_rule("dana", "Chosen before")
    org.add_folder_rule("dana", "Also before")
    removed = api.delete(f"/api/mailboxes/{dana}/folder-rules/Chosen before", auth=ADMIN)
    assert [r["folder"] for r in removed.json()] == ["Also before"]
    unticked = admin.post(f"/mailboxes/{dana}/folders", data={}, follow_redirects=False)
    assert unticked.status_code == 303
    assert org.tidings.personal_options.folder_rules(_admin(org), dana) == []
