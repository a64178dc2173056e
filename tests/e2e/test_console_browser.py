"""The Dynamics 365 set-up procedure, done in Tidings' console by a person in Chromium.

Real parts end to end: the ``tidings serve --worker`` process on SQLite, the test Dovecot
(IMAPS and LMTP) and a real SMTP server; Playwright clicks what an admin would click.
Screenshots of every step are kept under artifacts/console/.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.builders import make_email
from tests.e2e.browser import Steps
from tests.e2e.processes import new_tidings
from tests.servers.dovecot import DovecotServer
from tests.servers.fixtures import TEST_USERS
from tests.servers.smtp import SmtpServer
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK

ADMIN = ("admin@northwind.example", "admin-password-1")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(TEST_USERS) as server:
        yield server


@pytest.fixture
def console(tmp_path: Path) -> Iterator[str]:
    """A new Tidings with only its first administrator, serving with the worker."""
    with new_tidings(tmp_path, ADMIN, ["serve", "--worker"]) as url:
        yield url


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/")
    expect(page.get_by_role("heading", name="Sign in to Tidings")).to_be_visible()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def nav(page: Page, name: str) -> None:
    """Open a page from the site map."""
    site_map = page.get_by_role("navigation", name="Site map")
    site_map.get_by_role("link", name=name, exact=True).click()


def saved(page: Page) -> None:
    """The page the form led to says it went through."""
    expect(page.locator("p.notice")).to_be_visible()


# The console's core flows are plain HTML forms: the whole procedure also works with
# JavaScript turned off.
@pytest.mark.parametrize("page", [True, False], indirect=True, ids=["with-js", "without-js"])
def test_an_admin_sets_up_server_side_sync_and_email_becomes_an_activity(
    page: Page, steps: Steps, console: str, dovecot: DovecotServer, smtp: SmtpServer
) -> None:
    # Sign in as the administrator `tidings createadmin` made.
    sign_in(page, console, *ADMIN)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    steps.shot("signed-in")

    # Settings › Email configuration: server-side synchronization for all email.
    nav(page, "Email Configuration")
    page.get_by_label("Process Email Using").select_option(label="Server-Side Synchronization")
    page.get_by_label("Incoming Email (default for new mailboxes)").select_option(
        label="Server-Side Synchronization"
    )
    page.get_by_label("Outgoing Email (default for new mailboxes)").select_option(
        label="Server-Side Synchronization"
    )
    steps.shot("email-configuration")
    page.get_by_role("button", name="Save").click()
    saved(page)

    # Email server profile: IMAP/SMTP pointing at the test Dovecot and SMTP server.
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
    steps.shot("new-server-profile")
    page.get_by_role("button", name="Save").click()
    saved(page)
    expect(page.get_by_text("Warning: email and passwords travel unencrypted")).to_be_visible()

    # Users: Dana will track email; Sam signs in but holds no role.
    nav(page, "Users")
    for name, email, password in (
        ("Dana Scully", "dana@northwind.example", "dana-console-1"),
        ("Sam Carter", "sam@northwind.example", "sam-console-1"),
    ):
        page.locator("#f-full-name").fill(name)
        page.locator("#f-email").fill(email)
        page.locator("#f-password").fill(password)
        page.get_by_role("button", name="Create user").click()
        saved(page)
        nav(page, "Users")
    steps.shot("users")

    # Mailboxes for both, with the passwords their mail server knows.
    nav(page, "Mailboxes")
    for label, address in (
        ("Dana Scully <dana@northwind.example>", "dana@northwind.example"),
        ("Sam Carter <sam@northwind.example>", "sam@northwind.example"),
    ):
        page.locator("#f-new-address").fill(address)
        page.locator("#f-new-owner").select_option(label=label)
        page.locator("#f-new-profile-id").select_option(label="Northwind mail")
        page.get_by_role("button", name="Create mailbox").click()
        saved(page)
        page.locator("#f-cr-username").fill(address)
        page.locator("#f-cr-password").fill(TEST_USERS[address])
        page.get_by_role("button", name="Save credentials").click()
        saved(page)
        nav(page, "Mailboxes")

    # Mailboxes › Pending approval: select both, Approve Email, confirm, read each result.
    view = page.get_by_label("View", exact=True)
    view.select_option(label="Mailboxes Pending Email Address Approval")
    page.get_by_role("button", name="Apply", exact=True).click()
    page.get_by_label("Select dana@northwind.example").check()
    page.get_by_label("Select sam@northwind.example").check()
    steps.shot("pending-approval-selected")
    page.get_by_role("button", name="Approve Email").click()
    page.get_by_role("button", name="Approve Email: 2 mailboxes").click()
    expect(page.locator("#bulk-summary")).to_have_text("2 of 2 succeeded.")
    page.get_by_role("link", name="Back to the mailboxes").click()

    # All mailboxes: select both, Test & Enable, and see success.
    view.select_option(label="All Mailboxes")
    page.get_by_role("button", name="Apply", exact=True).click()
    page.get_by_label("Select dana@northwind.example").check()
    page.get_by_label("Select sam@northwind.example").check()
    page.get_by_role("button", name="Test & Enable Mailboxes").click()
    page.get_by_role("button", name="Test & Enable Mailboxes: 2 mailboxes").click()
    expect(page.locator("#bulk-summary")).to_have_text("2 of 2 succeeded.")
    page.get_by_role("link", name="Back to the mailboxes").click()
    table = page.locator("#mailbox-table")
    for address in ("dana@northwind.example", "sam@northwind.example"):
        row = table.get_by_role("row").filter(has_text=address)
        expect(row.locator("td").nth(5)).to_have_text("success")
        expect(row.locator("td").nth(6)).to_have_text("success")
        expect(row.locator("td").nth(7)).to_have_text("Yes")
    steps.shot("tested-and-enabled")

    # Give Dana the tracking role, and have her track all incoming email.
    nav(page, "Users")
    page.get_by_role("link", name="Dana Scully").click()
    page.get_by_label("Tidings App User").check()
    page.get_by_role("button", name="Manage roles: save").click()
    saved(page)
    page.get_by_role("link", name="Personal options of Dana Scully").click()
    page.get_by_label("Track incoming email").select_option(label="All email messages")
    page.get_by_role("button", name="Save").first.click()
    saved(page)
    steps.shot("tracking-role-given")

    # An email arrives in Dana's Inbox over LMTP.
    subject = f"Order {uuid.uuid4().hex[:8]} for 500 seats"
    raw = make_email(subject=subject, message_id=f"<{uuid.uuid4().hex}@contoso.example>")
    dovecot.deliver("dana@northwind.example", raw)

    # The activity appears, with its parties and the reasons it was tracked.
    link = page.get_by_role("link", name=subject)
    deadline = time.monotonic() + 90
    while True:
        page.goto(f"{console}/activities?q={subject.split()[1]}")
        if link.count() or time.monotonic() > deadline:
            break
        page.wait_for_timeout(500)
    expect(link).to_be_visible()
    steps.shot("activity-listed")
    link.click()
    parties = page.locator("#party-table")
    expect(parties).to_contain_text("maria@contoso.example")
    for role in ("to", "owner"):
        row = parties.get_by_role("row").filter(has=page.get_by_role("cell", name=role, exact=True))
        expect(row).to_contain_text("Dana Scully")
    expect(page.get_by_text("Tracked", exact=False).first).to_be_visible()
    expect(page.locator(".reasons li").first).to_be_visible()
    steps.shot("activity-detail")

    # Sam has no tracking role: D365's words.
    page.get_by_role("button", name="Sign out").click()
    sign_in(page, console, "sam@northwind.example", "sam-console-1")
    expect(page.locator("#problem")).to_have_text(NOT_AUTHORIZED_TO_TRACK)
    steps.shot("not-authorized")


def test_the_console_is_usable_from_the_keyboard(page: Page, steps: Steps, console: str) -> None:
    # Sign in, skip to the content and open a page from the site map without a mouse.
    page.goto(console + "/")
    expect(page.get_by_label("Email address")).to_be_focused()
    page.keyboard.type(ADMIN[0])
    page.keyboard.press("Tab")
    page.keyboard.type(ADMIN[1])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent") == "Mailboxes":
            break
    page.keyboard.press("Enter")
    expect(page).to_have_url(console + "/mailboxes")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    steps.shot("mailboxes-by-keyboard")
