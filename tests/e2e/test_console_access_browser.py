"""Access levels in Chromium: the role editor's grid, the activity list of a user who holds
only the tracking role (User level) beside an administrator's, another user's activity,
and the page of a user who holds no role at all.

The ``tidings serve`` process on a database filled by real ingest; Playwright signs in.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.builders import Org, make_email
from tests.conftest import TEST_SECRET_KEY, settings_for
from tests.e2e.browser import Steps
from tests.e2e.processes import serving
from tidings.bootstrap import bootstrap
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, TRACKING_ROLE, Caller, Privilege, User

SCREENSHOT = Path(__file__).parents[2] / "docs" / "images" / "role-editor.png"
ADMIN = ("ada@northwind.example", "ada-password-1")
DANA = ("dana@northwind.example", "dana-password-1")
NORA = ("nora@northwind.example", "nora-password-1")


@pytest.fixture
def tidings_url(sqlite_url: str) -> Iterator[str]:
    """Northwind where Dana (tracking role) and Sam each have a tracked email."""
    app = bootstrap(settings_for(sqlite_url))
    try:
        org = Org.create(app)
        app.access.create_admin("Ada Admin", *ADMIN)
        admin = Caller(User("Ada Admin", ADMIN[0], id=10_000), frozenset(Privilege))
        app.people.set_password(admin, org.users["dana"].id or 0, DANA[1])
        org.add_user("sam")
        nora = org.add_user("nora", tracking_role=False)
        app.people.set_password(admin, nora.id or 0, NORA[1])
        org.deliver(make_email(subject="Quote for Dana"))
        sam_email = make_email(
            to="sam@northwind.example", subject="Contract for Sam", message_id="<s@contoso.example>"
        )
        sam_activity = org.deliver(sam_email, "sam").activity_id
        role_id = org.roles[TRACKING_ROLE]
    finally:
        app.close()
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": sqlite_url,
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "TIDINGS_PARSE_WORKERS": "0",
    }
    with serving(["serve"], env) as url:
        yield f"{url}#{role_id}#{sam_activity}"


def sign_in(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "/signin")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_a_user_level_user_lists_only_their_own_activities_and_the_admin_edits_levels(
    page: Page, steps: Steps, tidings_url: str
) -> None:
    base, role_id, _sam_activity = tidings_url.split("#")
    sign_in(page, base, *DANA)
    page.goto(base + "/activities")
    expect(page.get_by_role("link", name="Quote for Dana")).to_be_visible()
    expect(page.get_by_text("Contract for Sam")).to_have_count(0)
    steps.shot("dana-activities")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, base, *ADMIN)
    page.goto(base + "/activities")
    expect(page.get_by_role("link", name="Contract for Sam")).to_be_visible()
    page.goto(f"{base}/roles/{role_id}")
    expect(page.get_by_role("heading", name=TRACKING_ROLE)).to_be_visible()
    expect(page.get_by_label("read activities: User")).to_be_checked()
    if os.environ.get("TIDINGS_UPDATE_DOCS_IMAGES"):  # the picture in docs/security-model.md
        page.screenshot(path=SCREENSHOT, full_page=True)
    page.get_by_label("read activities: Business unit").check()
    page.get_by_role("button", name=f"Save {TRACKING_ROLE}").click()
    expect(page.locator("p.notice")).to_be_visible()
    expect(page.get_by_label("read activities: Business unit")).to_be_checked()
    steps.shot("role-editor-saved")


def test_another_users_activity_and_a_user_without_roles_keep_the_top_bar(
    page: Page, steps: Steps, tidings_url: str
) -> None:
    # Dana opens Sam's activity by its address: not found, as if it did not exist.
    base, _role_id, sam_activity = tidings_url.split("#")
    sign_in(page, base, *DANA)
    page.goto(f"{base}/activities/{sam_activity}")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("Contract for Sam")).to_have_count(0)
    page.get_by_role("button", name="Sign out").click()
    # Nora holds no role: D365's words, with the top bar to find her way out.
    sign_in(page, base, *NORA)
    expect(page.get_by_role("alert")).to_have_text(NOT_AUTHORIZED_TO_TRACK)
    expect(page.get_by_role("link", name="Help")).to_be_visible()
    steps.shot("not-authorized")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("Email address")).to_be_visible()
