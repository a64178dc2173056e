"""The App for Outlook's task pane in Chromium, in read and compose mode.

Outlook cannot run here: Playwright serves a small documented stand-in for Office.js
(office_stub.js) at Microsoft's address, the one the pane loads. Everything else is real: the
``tidings serve`` process, its database filled by real ingest, the sign-in dialog.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.builders import Org, make_email
from tests.conftest import TEST_SECRET_KEY, settings_for
from tests.e2e.browser import Steps
from tests.e2e.processes import serving
from tidings.bootstrap import bootstrap
from tidings.domain.people import (
    NOT_AUTHORIZED_TO_TRACK,
    Caller,
    Privilege,
    SecurityRole,
    TrackIncoming,
    User,
)
from tidings.entrypoints.web.views.addin import OFFICE_JS

STUB = Path(__file__).with_name("office_stub.js")
SCREENSHOT = Path(__file__).parents[2] / "docs" / "images" / "addin-task-pane.png"
DANA = ("dana@northwind.example", "dana-password-1")
SAM = ("sam@northwind.example", "sam-password-1")
MESSAGE_ID = "<quote-500@contoso.example>"


@pytest.fixture
def tidings_url(sqlite_url: str) -> Iterator[str]:
    """Tidings serving a Northwind whose Dana has an email the rules did not track."""
    app = bootstrap(settings_for(sqlite_url))
    try:
        org = Org.create(app)
        # An administrator acting from outside, like the console's.
        admin = Caller(User("Ada Admin", "ada@northwind.example", id=10_000), frozenset(Privilege))
        with app.uow() as uow:
            readers = uow.directory.add_role(
                SecurityRole("Record readers", frozenset({Privilege.READ_RECORDS}))
            )
            uow.commit()
        dana = org.users["dana"]
        assert dana.id is not None
        app.people.assign_user_roles(admin, dana.id, sorted({*dana.role_ids, readers}))
        app.people.set_password(admin, dana.id, DANA[1])
        app.personal_options.update_options(admin, dana.id, track_incoming=TrackIncoming.NONE)
        sam = org.add_user("sam", tracking_role=False)
        assert sam.id is not None
        app.people.set_password(admin, sam.id, SAM[1])
        org.deliver(
            make_email(
                message_id=MESSAGE_ID,
                cc="tom@contoso.example",
                subject="Quote for 500 seats",
            )
        )
    finally:
        app.close()
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": sqlite_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
    }
    with serving(["serve"], env) as url:
        yield url


def outlook(page: Page, item: dict[str, str]) -> BrowserContext:
    """The page's browser as Outlook: Office.js is the stand-in, the open item is ``item``."""
    context = page.context
    context.route(
        OFFICE_JS,
        lambda route: route.fulfill(path=str(STUB), content_type="application/javascript"),
    )
    stub = ", ".join(f"{k}: {v!r}" for k, v in item.items())
    context.add_init_script(f"window.__officeStub = {{{stub}}};")
    return context


def sign_in_through_the_dialog(page: Page, email: str, password: str) -> None:
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Sign in to Tidings").click()
    dialog = opened.value
    dialog.get_by_label("Email address").fill(email)
    dialog.get_by_label("Password").fill(password)
    dialog.get_by_role("button", name="Sign in").click()
    # The dialog's last page tells the pane, which closes it and reloads its panel.
    dialog.wait_for_event("close")


def test_in_read_mode_a_person_signs_in_sees_why_tracks_and_sets_regarding(
    page: Page, steps: Steps, tidings_url: str
) -> None:
    outlook(page, {"mode": "read", "internetMessageId": MESSAGE_ID, "itemId": "AAMkAD-1"})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size({"width": 360, "height": 860})
    page.goto(tidings_url + "/addin/taskpane")
    expect(page.get_by_role("button", name="Sign in to Tidings")).to_be_visible()
    steps.shot("sign-in")
    sign_in_through_the_dialog(page, *DANA)

    expect(page.get_by_role("heading", name="Not tracked")).to_be_visible()
    expect(page.locator(".reasons")).to_contain_text("track_incoming_option")
    steps.shot("not-tracked")
    page.get_by_role("button", name="Track", exact=True).click()
    expect(page.get_by_role("status")).to_have_text("The email is tracked.")
    expect(page.locator("#party-table")).to_contain_text("Maria Garcia")
    expect(page.locator("#party-table")).to_contain_text("Tom Becker")

    page.get_by_label("Set regarding").fill("500 seats")
    page.get_by_role("button", name="Look up").click()
    page.get_by_role("button", name="Set regarding: Contoso: 500 seats").click()
    expect(page.locator("#regarding")).to_have_text("Contoso: 500 seats")
    steps.shot("tracked")
    if os.environ.get("TIDINGS_UPDATE_DOCS_IMAGES"):  # the picture in docs/outlook-add-in.md
        page.screenshot(path=SCREENSHOT, full_page=True)

    page.get_by_label("Why untrack?").fill("private email")
    page.get_by_role("button", name="Untrack").click()
    expect(page.get_by_role("heading", name="Not tracked")).to_be_visible()
    expect(page.locator(".reasons")).to_contain_text("untracked by hand by Dana: private email")
    assert errors == []


def test_in_compose_mode_the_draft_gets_a_token_and_asks_to_be_tracked_when_sent(
    page: Page, steps: Steps, tidings_url: str
) -> None:
    outlook(page, {"mode": "compose"})
    page.set_viewport_size({"width": 360, "height": 700})
    page.goto(tidings_url + "/addin/taskpane")
    sign_in_through_the_dialog(page, *DANA)
    expect(page.get_by_role("heading", name="Track when sent")).to_be_visible()
    token = page.evaluate("window.__officeStub.headers['X-Tidings-Track']")
    assert isinstance(token, str) and len(token) >= 16

    page.get_by_label("Regarding").fill("contoso")
    page.get_by_role("button", name="Look up").click()
    page.get_by_role("button", name="Track when sent, regarding: Contoso", exact=True).click()
    expect(page.locator("#intent")).to_contain_text("regarding Contoso")
    steps.shot("track-when-sent")
    # The draft keeps its token: the request is found again for it.
    assert page.evaluate("window.__officeStub.headers['X-Tidings-Track']") == token
    page.get_by_role("button", name="Don't track it").click()
    expect(page.locator("p.notice")).to_have_text("This email will not be tracked when sent.")
    expect(page.get_by_role("button", name="Track when sent", exact=True)).to_be_visible()


def test_a_user_without_the_tracking_role_is_told_so(
    page: Page, steps: Steps, tidings_url: str
) -> None:
    outlook(page, {"mode": "read", "internetMessageId": MESSAGE_ID})
    page.goto(tidings_url + "/addin/taskpane")
    sign_in_through_the_dialog(page, *SAM)
    expect(page.locator("#not-authorized")).to_have_text(NOT_AUTHORIZED_TO_TRACK + ".")
    steps.shot("not-authorized")


def test_office_js_is_what_the_pane_runs_on(page: Page, tidings_url: str) -> None:
    # Without Office.js (blocked here), the pane never claims to have read an email.
    page.context.route(OFFICE_JS, lambda route: route.abort())
    page.goto(tidings_url + "/addin/taskpane")
    expect(page.locator("#panel")).to_have_text("Reading the email…")
    assert shutil.which("chromium") or Path("/usr/bin/chromium").exists()
