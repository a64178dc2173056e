"""Writing email in the console, done by a person in Chromium: compose, look up a recipient,
attach a file, send, and watch the activity become *sent*; then reply to it.

Real parts end to end: the ``tidings serve --worker`` process on SQLite, the test Dovecot
(where the Sent copy lands) and a real SMTP server. Screenshots go to artifacts/console/.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Page, expect

from tests.builders import Org
from tests.compose_helpers import SAM, add_sending_user, in_sent
from tests.conftest import settings_for
from tests.e2e.browser import Steps
from tests.e2e.processes import TIDINGS, serving
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.bootstrap import bootstrap
from tidings.domain.access_levels import AccessLevel
from tidings.domain.people import Privilege, SecurityRole


@pytest.fixture
def console(tmp_path: Path, smtp_server: SmtpServer, dovecot: DovecotServer) -> Iterator[str]:
    """A Tidings whose user Sam may send from his mailbox, serving with the worker."""
    url = f"sqlite:///{tmp_path / 'tidings.db'}"
    key = Fernet.generate_key().decode()
    env = {
        **os.environ,
        "TIDINGS_DATABASE_URL": url,
        "TIDINGS_SECRET_KEYS": key,
        "TIDINGS_PARSE_WORKERS": "0",
    }
    subprocess.run([TIDINGS, "db", "upgrade"], env=env, check=True, capture_output=True)
    tidings = bootstrap(settings_for(url, secret_keys=key))
    try:
        org = Org.create(tidings)
        add_sending_user(org, smtp_server, dovecot)
        # The contacts belong to nobody in particular: Sam finds them through a role that
        # reads records organization-wide, as a D365 admin would grant.
        with tidings.uow() as uow:
            reader = SecurityRole("Contact reader").with_levels(
                {Privilege.READ_RECORDS: AccessLevel.ORGANIZATION}
            )
            role_id = uow.directory.add_role(reader)
            sam = uow.directory.get_user(org.users["sam"].id or 0)
            assert sam is not None
            sam.role_ids = sam.role_ids | {role_id}
            uow.directory.save_user(sam)
            uow.commit()
    finally:
        tidings.close()
    with serving(["serve", "--worker"], env) as base:
        yield base


def test_a_user_writes_an_email_in_the_console_sends_it_and_sees_it_sent(
    console: str, page: Page, steps: Steps, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    page.goto(console + "/")
    page.get_by_label("Email address").fill(SAM[0])
    page.get_by_label("Password").fill(SAM[1])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Site map").get_by_role("link", name="Activities").click()
    page.get_by_role("link", name="New email").click()
    expect(page.get_by_role("heading", name="New email")).to_be_visible()
    page.get_by_label("To", exact=True).fill("maria@contoso.example")
    page.get_by_label("Subject").fill("Quote for 500 seats")
    page.get_by_label("Message").fill("Hello Maria,\n\nthe quote is attached.")
    page.get_by_label("Look up a recipient").fill("Tom")
    steps.shot("compose")
    page.get_by_role("button", name="Look up").click()
    # The draft was saved on the way: the lookup lists Tom, and a click puts him in Cc.
    page.get_by_role("button", name="Add Tom Becker to Cc").click()
    expect(page.get_by_label("Cc", exact=True)).to_have_value("tom@contoso.example")
    page.get_by_label("Attach files").set_input_files(
        {"name": "quote.txt", "mimeType": "text/plain", "buffer": b"500 seats: 9,000 EUR"}
    )
    steps.shot("draft")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("p.notice")).to_have_text("The email is queued for sending.")
    expect(page.locator("#email-status")).to_have_text("sent", timeout=60_000)
    steps.shot("sent")
    [message] = smtp_server.wait_for(1, timeout=30)
    sent = message_from_bytes(message.content, policy=policy.default)
    assert isinstance(sent, EmailMessage)
    assert message.rcpt_tos == ("maria@contoso.example", "tom@contoso.example")
    assert sent["Subject"].startswith("Quote for 500 seats")
    body = sent.get_body(("plain",))
    assert body is not None and "the quote is attached." in body.get_content()
    assert [a.get_filename() for a in sent.iter_attachments()] == ["quote.txt"]
    expect(page.locator("#sent-copy")).to_have_text("saved", timeout=30_000)
    assert in_sent(dovecot, str(sent["Message-ID"]))

    # Reply all from the activity starts a draft addressed and quoted from it.
    page.get_by_role("button", name="Reply all").click()
    expect(page.get_by_label("Subject")).to_have_value(f"Re: {sent['Subject']}")
    expect(page.get_by_label("To", exact=True)).to_have_value("maria@contoso.example")
    expect(page.get_by_label("Cc", exact=True)).to_have_value("tom@contoso.example")
    expect(page.get_by_label("Message")).to_contain_text("the quote is attached.")
    steps.shot("reply-all")


def test_the_message_is_formatted_with_the_toolbar_and_comes_back_sanitized(
    console: str, page: Page
) -> None:
    # Bold text and a list made with the toolbar survive saving; a pasted script does not.
    page.goto(console + "/")
    page.get_by_label("Email address").fill(SAM[0])
    page.get_by_label("Password").fill(SAM[1])
    page.get_by_role("button", name="Sign in").click()
    page.goto(console + "/emails/new")
    page.get_by_label("To", exact=True).fill("maria@contoso.example")
    page.get_by_label("Subject").fill("Figures")
    message = page.get_by_label("Message")
    message.click()
    page.keyboard.type("Quarterly numbers")
    page.keyboard.press("Control+A")
    page.get_by_role("button", name="Bold").click()
    page.keyboard.press("End")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Bulleted list").click()
    page.keyboard.type("Seats: 500")
    message.evaluate(
        "e => e.insertAdjacentHTML('beforeend', '<img src=x onerror=\"window.ran=1\">')"
    )
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("heading", name="Email draft")).to_be_visible()
    saved = page.get_by_label("Message")
    expect(saved.locator("b").first).to_have_text("Quarterly numbers")
    expect(saved.locator("li")).to_have_text("Seats: 500")
    assert "onerror" not in saved.inner_html()
    assert page.evaluate("window.ran") is None
