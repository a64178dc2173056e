"""The Mailboxes grid in Chromium with 500 mailboxes: filter, sort, select every mailbox of
the view across pages, Approve Email, confirm, and read each mailbox's result.

The ``tidings serve`` process runs on SQLite; the mailboxes come through the bulk import
API, as an admin would load them. Screenshots go to artifacts/console/ (docs/ shows two).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser import Steps
from tests.e2e.processes import new_tidings
from tests.e2e.test_console_browser import ADMIN, nav, sign_in

MAILBOXES = 500


@pytest.fixture
def console(tmp_path: Path) -> Iterator[str]:
    """Tidings with its administrator, one server profile and 500 users with mailboxes."""
    with new_tidings(tmp_path, ADMIN, ["serve"]) as url:
        _load(url)
        yield url


def _load(url: str) -> None:
    with httpx.Client(base_url=url, auth=ADMIN, timeout=120) as api:
        for name, host in (("Northwind IMAP", "imap"), ("Fabrikam Exchange", "mail")):
            profile = {
                "name": name,
                "kind": "imap_smtp",
                "incoming_host": f"{host}.northwind.example",
                "outgoing_host": f"smtp.{host}.northwind.example",
            }
            api.post("/api/server-profiles", json=profile).raise_for_status()
        rows = [
            f"Person {n:03d},p{n:03d}@staff.example,"
            f"{'Northwind IMAP' if n % 3 else 'Fabrikam Exchange'}\n"
            for n in range(MAILBOXES)
        ]
        answer = api.post(
            "/api/mailboxes/bulk",
            content="full_name,email,profile\n" + "".join(rows),
            headers={"Content-Type": "text/csv"},
        )
        answer.raise_for_status()


@pytest.mark.parametrize("page", [True, False], indirect=True, ids=["with-js", "without-js"])
def test_an_admin_approves_every_mailbox_of_a_filtered_view_across_pages(
    page: Page, steps: Steps, console: str
) -> None:
    sign_in(page, console, *ADMIN)
    nav(page, "Mailboxes")
    view = page.get_by_label("View", exact=True)
    view.select_option(label="All Mailboxes")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator("#grid-range")).to_have_text(f"1–50 of {MAILBOXES} mailboxes")
    steps.shot("mailbox-grid")

    # Filter: pending approval, owners named "Person 1…": 100 mailboxes over two pages.
    view.select_option(label="Mailboxes Pending Email Address Approval")
    page.get_by_label("Search", exact=True).fill("Person 1")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator("#grid-range")).to_have_text("1–50 of 100 mailboxes")

    # Sort: the grid is by address; a click on that header reverses it.
    header = page.get_by_role("columnheader", name="Email address", exact=True)
    expect(header).to_have_attribute("aria-sort", "ascending")
    header.get_by_role("link").click()
    expect(header).to_have_attribute("aria-sort", "descending")
    first = page.locator("#mailbox-table tbody tr").first
    expect(first).to_contain_text("p199@staff.example")
    expect(first).to_contain_text("Person 199")

    # Select all 100 in the view (not only the 50 shown), then Approve Email.
    page.get_by_label("Select all 100 mailboxes in this view").check()
    steps.shot("select-all-in-view")
    page.get_by_role("button", name="Approve Email").click()
    expect(page.locator("#confirm-count")).to_contain_text("100 mailboxes")
    expect(page.locator(".confirm-list li")).to_have_count(100)
    steps.shot("confirm")
    page.get_by_role("button", name="Approve Email: 100 mailboxes").click()

    # Each mailbox's result.
    expect(page.locator("#bulk-summary")).to_have_text("100 of 100 succeeded.")
    results = page.locator("#bulk-results tbody tr")
    expect(results).to_have_count(100)
    expect(results.first).to_contain_text("p199@staff.example")
    expect(results.first).to_contain_text("approved")
    steps.shot("bulk-results")

    # Back in the view, nothing is left pending; the other 400 still are.
    page.get_by_role("link", name="Back to the mailboxes").click()
    expect(page.locator("#grid-range")).to_have_text("No mailboxes")
    page.get_by_label("Search", exact=True).fill("")
    page.get_by_role("button", name="Apply", exact=True).click()
    expect(page.locator("#grid-range")).to_have_text("1–50 of 400 mailboxes")
