"""Long values never break a page's layout: a 2,000-character subject without a single space
wraps inside its cell, and the page does not scroll sideways, in Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.builders import Org, TickingClock, make_email
from tests.conftest import settings_for
from tests.e2e.browser import Steps
from tests.e2e.processes import serving_app
from tidings.bootstrap import bootstrap
from tidings.entrypoints.api.app import create_app

ADMIN = ("ada@northwind.example", "ada-password")
SUBJECT = "Q" * 2_000
#: The longest a stored attachment name or a tracked folder's name may be, without a space.
LONG_NAME = "F" * 196


@pytest.fixture
def long_console(sqlite_url: str) -> Iterator[tuple[str, int, int]]:
    tidings = bootstrap(settings_for(sqlite_url), clock=TickingClock())
    org = Org.create(tidings)
    tidings.access.create_admin("Ada Admin", *ADMIN)
    raw = make_email(
        subject=SUBJECT,
        message_id="<long@contoso.example>",
        attachments=[(LONG_NAME + ".pdf", b"%PDF", "application/pdf")],
    )
    result = org.deliver(raw)
    assert result.activity_id is not None
    org.add_folder_rule("dana", "G" * 200)
    with serving_app(create_app(tidings)) as url:
        yield url, result.activity_id, org.mailboxes["dana"]
    tidings.close()


def test_a_two_thousand_character_subject_does_not_widen_the_page(
    page: Page, steps: Steps, long_console: tuple[str, int, int]
) -> None:
    base, activity_id, mailbox_id = long_console
    page.goto(base + "/signin")
    page.get_by_label("Email address").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    pages = {
        "/activities": SUBJECT,
        f"/activities/{activity_id}": LONG_NAME,
        f"/mailboxes/{mailbox_id}/folders": "G" * 200,
    }
    for url, long_text in pages.items():
        page.goto(base + url)
        expect(page.get_by_text(long_text[:100], exact=False).first).to_be_visible()
        widths = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        steps.shot(url.strip("/").replace("/", "-"))
        assert widths[0] <= widths[1], f"{url} scrolls sideways: {widths}"
