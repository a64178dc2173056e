"""Writing email in the console over HTTP: forms need the session's CSRF token, only the
mailbox's owner may write from it, and a mistake is shown beside what was typed."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org
from tests.compose_helpers import SAM, add_sending_user
from tests.integration.test_console import BASE, csrf_of, sign_in
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.domain.outgoing import OutboxPhase
from tidings.domain.stored import ActivityFilter
from tidings.entrypoints.api.app import create_app


@pytest.fixture
def sam(org: Org, smtp_server: SmtpServer, dovecot: DovecotServer) -> TestClient:
    add_sending_user(org, smtp_server, dovecot)
    client = TestClient(create_app(org.tidings), base_url=BASE)
    sign_in(client, *SAM)
    return client


def _drafts(org: Org) -> int:
    with org.tidings.uow() as uow:
        return uow.activities.count(ActivityFilter(mailbox_id=org.mailboxes["sam"]))


def test_a_compose_form_without_the_csrf_token_saves_nothing(org: Org, sam: TestClient) -> None:
    answer = sam.post("/emails", data={"mailbox_id": org.mailboxes["sam"], "subject": "Forged"})
    assert answer.status_code == 403
    assert _drafts(org) == 0


def test_a_plain_text_draft_is_saved_and_shown_again_as_typed(org: Org, sam: TestClient) -> None:
    token = csrf_of(sam.get("/emails/new").text)
    saved = sam.post(
        "/emails",
        data={
            "csrf_token": token,
            "mailbox_id": org.mailboxes["sam"],
            "to": "maria@contoso.example; tom@contoso.example",
            "subject": "Quote",
            "body": "Hello Maria,\n\n1 < 2 & <script>alert(1)</script>",
            "action": "save",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    page = sam.get(saved.headers["location"]).text
    assert 'value="maria@contoso.example, tom@contoso.example"' in page
    body = re.search(r'<textarea id="compose-body"[^>]*>(.*?)</textarea>', page, re.S)
    assert body is not None
    assert "<script>" not in body.group(1) and "alert(1)" not in body.group(1)


def test_a_bad_recipient_is_shown_beside_what_was_typed(org: Org, sam: TestClient) -> None:
    token = csrf_of(sam.get("/emails/new").text)
    answer = sam.post(
        "/emails",
        data={
            "csrf_token": token,
            "mailbox_id": org.mailboxes["sam"],
            "to": "not an address",
            "subject": "Keep me",
            "body": "Typed with care",
        },
    )
    assert answer.status_code == 422
    assert "is not an email address" in answer.text
    assert 'value="Keep me"' in answer.text and "Typed with care" in answer.text
    assert _drafts(org) == 0


def test_another_user_may_not_open_or_send_a_draft(org: Org, sam: TestClient) -> None:
    token = csrf_of(sam.get("/emails/new").text)
    saved = sam.post(
        "/emails",
        data={"csrf_token": token, "mailbox_id": org.mailboxes["sam"], "to": "a@b.example"},
        follow_redirects=False,
    )
    email_path = saved.headers["location"].split("?")[0].removesuffix("/edit")
    org.tidings.setup.add_user("Rita", "rita@northwind.example", ["tracking"], "rita-password")
    rita = TestClient(create_app(org.tidings), base_url=BASE)
    rita_token = sign_in(rita, "rita@northwind.example", "rita-password")
    # Sam's draft is out of Rita's reach: "not found", so that it is not even told it exists.
    assert rita.get(f"{email_path}/edit").status_code == 404
    sent = rita.post(email_path, data={"csrf_token": rita_token, "action": "send"})
    assert sent.status_code == 404
    assert rita.get("/emails/new").status_code == 200  # her own page, with no mailbox to pick


def test_retry_takes_only_a_ticked_box_or_a_yes_or_no_and_shows_any_other_beside_it(
    org: Org, sam: TestClient
) -> None:
    # FastAPI would read "t" or "y" as a yes and send an email that may have arrived again.
    token = csrf_of(sam.get("/emails/new").text)
    sent = sam.post(
        "/emails",
        data={
            "csrf_token": token,
            "mailbox_id": org.mailboxes["sam"],
            "to": "a@b.example",
            "subject": "Quote",
            "action": "send",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    email_id = int(re.findall(r"/(\d+)", sent.headers["location"])[0])
    with org.tidings.uow() as uow:
        uow.outbox.set_phase(email_id, OutboxPhase.HANDED_OVER, org.tidings.clock.now())
        uow.commit()
    org.tidings.outgoing.recover()
    page = sam.get(f"/activities/{email_id}").text
    assert re.search(
        r'<input type="checkbox" id="f-retry-confirm-not-delivered"[^>]* required', page
    )
    for sloppy in ("t", "y", "maybe"):
        answer = sam.post(
            f"/emails/{email_id}/retry", data={"csrf_token": token, "confirm_not_delivered": sloppy}
        )
        assert answer.status_code == 422, sloppy
        assert 'id="f-retry-confirm-not-delivered-error">choose yes or no</span>' in answer.text
        assert 'aria-describedby="f-retry-confirm-not-delivered-error"' in answer.text
        assert 'href="#f-retry-confirm-not-delivered"' in answer.text
        with org.tidings.uow() as uow:
            item = uow.outbox.get(email_id)
            assert item is not None and item.phase is OutboxPhase.FAILED
    unticked = sam.post(f"/emails/{email_id}/retry", data={"csrf_token": token})
    assert unticked.status_code == 409  # may have arrived: sent again only when confirmed
    ticked = sam.post(
        f"/emails/{email_id}/retry",
        data={"csrf_token": token, "confirm_not_delivered": "on"},
        follow_redirects=False,
    )
    assert ticked.status_code == 303, ticked.text
    with org.tidings.uow() as uow:
        item = uow.outbox.get(email_id)
        assert item is not None and item.phase is OutboxPhase.QUEUED
