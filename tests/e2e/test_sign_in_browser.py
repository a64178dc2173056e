"""Signing in with Chromium through the real ``tidings serve``: the form's CSRF token and its
sealed cookie travel without the person noticing; a form posted from another site fails."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.processes import new_tidings

ADMIN = ("alex@northwind.example", "alex-password-1")


@pytest.fixture
def console(tmp_path: Path) -> Iterator[str]:
    """A new Tidings with only its first administrator."""
    with new_tidings(tmp_path, ADMIN, ["serve"]) as url:
        yield url


def test_a_person_signs_in_as_usual_with_the_form_token_in_place(page: Page, console: str) -> None:
    page.goto(console + "/")
    expect(page.get_by_role("heading", name="Sign in to Tidings")).to_be_visible()
    token = page.locator('input[name="csrf_token"]').get_attribute("value")
    assert token
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["tidings_sign_in"]["httpOnly"] and cookies["tidings_sign_in"]["value"] != token
    page.get_by_label("Email address").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_sign_in_form_without_its_token_is_refused_in_the_browser(
    page: Page, console: str
) -> None:
    # What a page elsewhere can send: the fields, but not a token matching the cookie.
    page.goto(console + "/signin")
    page.locator('input[name="csrf_token"]').evaluate("input => input.value = 'forged'")
    page.get_by_label("Email address").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("too old or came from another site")
    assert "tidings_session" not in {c["name"] for c in page.context.cookies()}
    # The page shown again carries a fresh token: signing in from it works.
    page.get_by_label("Email address").fill(ADMIN[0])
    page.get_by_label("Password").fill(ADMIN[1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
