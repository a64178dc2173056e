"""Record pages in Chromium: a user created with their mailbox in one form, Test connection
on the server profile, and folder-level tracking picked from the mail server's real folders.

Real parts: the ``tidings serve`` process on SQLite, a Dovecot of its own (IMAPS) and a real
SMTP server. ``TIDINGS_UPDATE_DOCS_IMAGES=1`` refreshes the folder picker's picture in
docs/console-records.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import Steps
from tests.e2e.processes import new_tidings
from tests.e2e.test_console_browser import nav, saved, sign_in
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer

ADMIN = ("admin@northwind.example", "admin-password-1")
ERIN = ("erin@northwind.example", "erin-imap-pass")
FOLDERS = ("Customers", "Customers/Contoso", "Customers/Fabrikam", "Projects/Launch")
SCREENSHOT = Path(__file__).parents[2] / "docs" / "images" / "console-folder-picker.png"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DovecotServer, SmtpServer]]:
    users = dict([ERIN])
    with (
        DovecotServer(tmp_path_factory.mktemp("dovecot"), users) as dovecot,
        SmtpServer(users) as smtp,
    ):
        for folder in FOLDERS:
            dovecot.create_folder(ERIN[0], folder)
        yield dovecot, smtp


@pytest.fixture
def console(tmp_path: Path) -> Iterator[str]:
    with new_tidings(tmp_path, ADMIN, ["serve"]) as url:
        yield url


def _new_profile(page: Page, dovecot: DovecotServer, smtp: SmtpServer) -> None:
    nav(page, "Email Server Profiles")
    page.get_by_role("link", name="New email server profile").click()
    page.get_by_label("IMAP/SMTP Server").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Name", exact=True).fill("Northwind mail")
    page.get_by_label("Incoming server location").fill("127.0.0.1")
    page.get_by_label("Incoming port").fill(str(dovecot.imaps_port))
    page.get_by_label("Incoming connection security").select_option("tls")
    page.get_by_label("Outgoing (SMTP) server location").fill("127.0.0.1")
    page.get_by_label("Outgoing port").fill(str(smtp.port))
    page.get_by_label("Outgoing connection security").select_option("none")
    page.get_by_label("Allow unencrypted connections (not recommended)").check()
    page.get_by_label("Trusted CA certificates (PEM file on the Tidings server)").fill(
        str(dovecot.ca_file)
    )
    page.get_by_role("button", name="Save").click()
    saved(page)


def test_an_admin_creates_a_user_with_a_mailbox_tests_the_profile_and_picks_folders(
    page: Page, steps: Steps, console: str, servers: tuple[DovecotServer, SmtpServer]
) -> None:
    dovecot, smtp = servers
    sign_in(page, console, *ADMIN)
    _new_profile(page, dovecot, smtp)

    # One form: the user, and the user's mailbox on the new profile.
    nav(page, "Users")
    page.locator("#f-full-name").fill("Erin Ek")
    page.locator("#f-email").fill(ERIN[0])
    page.get_by_label("Create the user's mailbox").check()
    page.get_by_label("Server profile").select_option(label="Northwind mail")
    steps.shot("new-user-with-mailbox")
    page.get_by_role("button", name="Create user").click()
    saved(page)

    # The profile's page lists the mailbox; its credentials go on the mailbox's page.
    nav(page, "Email Server Profiles")
    page.get_by_role("link", name="Northwind mail").click()
    grid = page.locator("#profile-mailboxes")
    expect(grid).to_contain_text("Erin Ek")
    grid.get_by_role("link", name=ERIN[0]).click()
    page.locator("#f-cr-username").fill(ERIN[0])
    page.locator("#f-cr-password").fill(ERIN[1])
    page.get_by_role("button", name="Save credentials").click()
    saved(page)

    # Test connection, as that mailbox: both directions pass, said per direction.
    nav(page, "Email Server Profiles")
    page.get_by_role("link", name="Northwind mail").click()
    page.get_by_label("A mailbox using this profile").select_option(label=ERIN[0])
    page.get_by_role("button", name="Test connection").click()
    results = page.locator("#connection-test")
    expect(results.locator("tr.test-success")).to_have_count(2)
    expect(results).to_contain_text("incoming: signed in to 127.0.0.1")
    steps.shot("test-connection")

    # Folder-level tracking from the mailbox's page: the server's folders to tick.
    page.goto(console + "/mailboxes?view=all")
    page.get_by_role("link", name=ERIN[0]).first.click()
    page.get_by_role("link", name="Folder-level tracking").click()
    picker = page.locator("#folder-picker")
    for folder in FOLDERS:
        expect(picker.get_by_label(folder, exact=True)).to_be_visible()
    picker.get_by_label("Customers/Contoso", exact=True).check()
    picker.get_by_label("Projects/Launch", exact=True).check()
    page.get_by_role("button", name="Save tracked folders").click()
    saved(page)
    expect(page.locator("#folder-rules")).to_contain_text("Customers/Contoso")
    steps.shot("folder-picker")
    if os.environ.get("TIDINGS_UPDATE_DOCS_IMAGES"):  # the picture in docs/console-records.md
        page.screenshot(path=SCREENSHOT, full_page=True)
