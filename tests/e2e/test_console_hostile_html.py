"""Hostile email HTML opened in the console in Chromium: no script runs, nothing leaves.

Each sample under tests/data/hostile_html/ tries to run script (tags, event handlers,
``javascript:`` links, SVG, forms, meta refresh) or to reach another host (CSS, remote
images, base and link tags); a script that ran would set ``window.__pwned`` or open a dialog.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.builders import Org, TickingClock, make_email
from tests.conftest import settings_for
from tests.e2e.browser import Steps
from tests.e2e.processes import serving_app
from tidings.bootstrap import bootstrap
from tidings.entrypoints.api.app import create_app

SAMPLES = sorted((Path(__file__).parents[1] / "data" / "hostile_html").glob("*.html"))
ADMIN = ("ada@northwind.example", "ada-password")


@pytest.fixture
def hostile_console(sqlite_url: str) -> Iterator[tuple[str, dict[str, int]]]:
    """The console, in this process, over an organization holding one email per sample."""
    tidings = bootstrap(settings_for(sqlite_url), clock=TickingClock())
    org = Org.create(tidings)
    tidings.access.create_admin("Ada Admin", *ADMIN)
    ids = {}
    for sample in SAMPLES:
        raw = make_email(html=sample.read_text(), message_id=f"<{sample.stem}@evil.example>")
        result = org.deliver(raw)
        assert result.activity_id is not None
        ids[sample.stem] = result.activity_id
    with serving_app(create_app(tidings)) as url:
        yield url, ids
    tidings.close()


def test_no_hostile_sample_runs_script_or_reaches_another_host(
    page: Page, steps: Steps, hostile_console: tuple[str, dict[str, int]]
) -> None:
    base, ids = hostile_console
    dialogs: list[str] = []
    foreign: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on(
        "request",
        lambda request: None if request.url.startswith(base) else foreign.append(request.url),
    )
    page.goto(base + "/signin")
    page.get_by_label("Email address").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    for name, activity_id in ids.items():
        page.goto(f"{base}/activities/{activity_id}")
        frame_element = page.locator("iframe.email-body")
        expect(frame_element).to_be_visible()
        frame = frame_element.element_handle().content_frame()
        assert frame is not None
        frame.wait_for_load_state("load")
        assert frame.url.endswith(f"/activities/{activity_id}/body"), frame.url
        # The frame is there and readable: a script in it would have had its chance.
        assert frame.evaluate("document.readyState") == "complete"
        hovered = frame.locator("div, a, p").first
        if hovered.count():
            hovered.hover()
        assert frame.evaluate("window.__pwned === undefined"), name
        assert page.evaluate("window.__pwned === undefined"), name
        steps.shot(name)
    assert dialogs == []
    assert foreign == [], f"requests left the console: {foreign}"
