"""Fixtures of the browser tests: Chromium, one page per test, numbered screenshots."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.e2e.browser import CHROMIUM, CHROMIUM_ARGS, Steps


# Per module, not per session: Playwright's sync API keeps an event loop running in the main
# thread while it is open, and later tests call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium package")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh page; ``indirect`` parametrization with False turns JavaScript off."""
    javascript = bool(getattr(request, "param", True))
    context = browser.new_context(
        viewport={"width": 1280, "height": 900}, java_script_enabled=javascript
    )
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    context.close()


@pytest.fixture
def steps(page: Page, request: pytest.FixtureRequest) -> Steps:
    return Steps(page, request.node.name)
