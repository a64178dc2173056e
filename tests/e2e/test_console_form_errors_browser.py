"""A refused form in Chromium: the same page again with each problem under its own field,
announced to assistive technology (aria-invalid, aria-describedby), a summary whose links
lead to the fields, what was typed kept (a 100,000-character name inside its box, not
widening the page) and the password field empty."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from tests.builders import Org, TickingClock
from tests.conftest import settings_for
from tests.e2e.browser import Steps
from tests.e2e.processes import serving_app
from tidings.bootstrap import bootstrap
from tidings.entrypoints.api.app import create_app

ADMIN = ("ada@northwind.example", "ada-password")
LONG = "N" * 100_000


@pytest.fixture
def console(sqlite_url: str) -> Iterator[str]:
    tidings = bootstrap(settings_for(sqlite_url), clock=TickingClock())
    Org.create(tidings)
    tidings.access.create_admin("Ada Admin", *ADMIN)
    with serving_app(create_app(tidings)) as url:
        yield url
    tidings.close()


def test_a_new_user_form_shows_each_problem_beside_its_field(
    page: Page, steps: Steps, console: str
) -> None:
    page.goto(console + "/signin")
    page.get_by_label("Email address").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    page.goto(console + "/users")
    # The browser's own checks would stop a person first; a script or an old browser does
    # not have them, and the server must say the same.
    page.evaluate(
        "document.querySelectorAll('[required]').forEach(e => e.removeAttribute('required'))"
    )
    page.evaluate("document.querySelector('#f-email').type = 'text'")
    page.locator("#f-full-name").fill(LONG)
    page.locator("#f-email").fill("not an address")
    page.locator("#f-password").fill("typed-password-1")
    page.get_by_role("button", name="Create user").click()

    name = page.locator("#f-full-name")
    email = page.locator("#f-email")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#f-full-name-error")).to_contain_text("200")
    expect(page.locator("#f-email-error")).to_contain_text("email address")
    expect(email).to_have_accessible_description("enter an email address, such as dana@example.com")
    expect(email).to_have_value("not an address")
    expect(name).to_have_value(LONG)
    expect(page.locator("#f-password")).to_have_value("")
    summary = page.get_by_role("alert")
    expect(summary.get_by_role("link", name="Email address")).to_be_visible()
    steps.shot("new-user-refused")

    # Each message sits under its own field, inside the field's box.
    for field in ("full-name", "email"):
        block = page.locator(f"#f-{field}-field").bounding_box()
        message = page.locator(f"#f-{field}-error").bounding_box()
        assert block and message
        assert block["y"] <= message["y"] <= block["y"] + block["height"]
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1], f"the refused form scrolls sideways: {widths}"

    summary.get_by_role("link", name="Email address").click()
    expect(email).to_be_focused()
