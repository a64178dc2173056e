"""Email written through the REST API goes out through the owner's mailbox: drafts, replies,
idempotent retries, permissions, failures told in the sender's words, and retrying."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org, make_email
from tests.compose_helpers import SAM, add_sending_user, in_sent
from tests.servers.dovecot import DovecotServer
from tests.servers.smtp import SmtpServer
from tidings.domain.mailbox import AlertLevel, ApprovalStatus, Mailbox
from tidings.domain.outgoing import INTERRUPTED_AFTER_HANDOVER, OutboxPhase
from tidings.domain.settings import SyncMethod
from tidings.domain.stored import ActivityFilter
from tidings.entrypoints.api.app import create_app


def _drain(org: Org) -> None:
    asyncio.run(org.tidings.outgoing.send_pending())


@pytest.fixture
def sam(org: Org, smtp_server: SmtpServer, dovecot: DovecotServer) -> TestClient:
    add_sending_user(org, smtp_server, dovecot)
    client = TestClient(create_app(org.tidings))
    client.auth = SAM
    return client


def _draft(client: TestClient, org: Org, **fields: object) -> dict[str, object]:
    body = {
        "mailbox_id": org.mailboxes["sam"],
        "to": [str(org.records["maria"])],
        "subject": "Quote for 500 seats",
        "html_body": "<p>Hello <b>Maria</b>,</p><p>the quote is attached.</p>",
        **fields,
    }
    response = client.post("/api/emails", json=body)
    assert response.status_code == 201, response.text
    draft: dict[str, object] = response.json()
    return draft


def test_a_draft_written_through_the_api_is_sent_with_html_text_and_attachment_and_copied_to_sent(
    org: Org, sam: TestClient, smtp_server: SmtpServer, dovecot: DovecotServer
) -> None:
    draft = _draft(
        sam,
        org,
        cc=["Tom@Contoso.example"],
        bcc=["lena@tailspin.example"],
        html_body='<p onclick="steal()">Hello <b>Maria</b></p><script>steal()</script>',
        regarding=str(org.records["deal"]),
    )
    assert draft["status"] == "draft"
    assert "script" not in str(draft["html_body"]) and "onclick" not in str(draft["html_body"])
    assert [r["record"] for r in draft["to"]] == [str(org.records["maria"])]  # type: ignore[index]
    attached = sam.post(
        f"/api/emails/{draft['id']}/attachments",
        files={"file": ("quote.pdf", b"%PDF-1.4 quote", "application/pdf")},
    )
    assert attached.status_code == 201, attached.text
    queued = sam.post(f"/api/emails/{draft['id']}/send")
    assert (queued.status_code, queued.json()["status"]) == (202, "pending_send")
    _drain(org)
    [message] = smtp_server.wait_for(1)
    assert message.rcpt_tos == (
        "maria@contoso.example",
        "tom@contoso.example",
        "lena@tailspin.example",
    )
    sent = message_from_bytes(message.content, policy=policy.default)
    assert isinstance(sent, EmailMessage)
    assert sent["Bcc"] is None and "lena@" not in message.content.decode()
    assert sent["Message-ID"] == draft["message_id"]
    text = sent.get_body(("plain",))
    html = sent.get_body(("html",))
    assert text is not None and html is not None
    assert "Hello Maria" in text.get_content()
    assert "<b>Maria</b>" in html.get_content() and "steal" not in html.get_content()
    [attachment] = list(sent.iter_attachments())
    assert (attachment.get_filename(), attachment.get_content()) == ("quote.pdf", b"%PDF-1.4 quote")
    shown = sam.get(f"/api/emails/{draft['id']}").json()
    assert (shown["status"], shown["sent_copy"], shown["failure_reason"]) == (
        "sent",
        "saved",
        None,
    )
    assert shown["subject"].endswith(shown["tracking_token"])
    assert in_sent(dovecot, str(draft["message_id"]))


def test_the_same_idempotency_key_creates_one_draft_and_sends_it_once(
    org: Org, sam: TestClient, smtp_server: SmtpServer
) -> None:
    body = {"mailbox_id": org.mailboxes["sam"], "to": ["maria@contoso.example"], "subject": "Hi"}
    first = sam.post("/api/emails", json=body, headers={"Idempotency-Key": "create-1"})
    again = sam.post("/api/emails", json=body, headers={"Idempotency-Key": "create-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert first.json()["id"] == again.json()["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = sam.post(
        "/api/emails", json={**body, "subject": "Other"}, headers={"Idempotency-Key": "create-1"}
    )
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"
    email_id = first.json()["id"]
    sends = [
        sam.post(f"/api/emails/{email_id}/send", headers={"Idempotency-Key": "send-1"})
        for _ in range(2)
    ]
    assert [s.status_code for s in sends] == [202, 202]
    _drain(org)
    _drain(org)
    assert len(smtp_server.wait_for(1)) == 1
    with org.tidings.uow() as uow:
        assert uow.activities.count(ActivityFilter(mailbox_id=org.mailboxes["sam"])) == 1
    listed = sam.get(f"/api/emails/{email_id}").json()
    assert listed["status"] == "sent"
    without_key = sam.post(f"/api/emails/{email_id}/send")
    assert without_key.status_code == 409


def test_a_reply_quotes_the_original_and_threads_by_in_reply_to_and_references(
    org: Org, sam: TestClient, smtp_server: SmtpServer
) -> None:
    org.configure(use_tracking_token=True)
    raw = make_email(
        sender="Maria Garcia <maria@contoso.example>",
        to=["sam@northwind.example", "tom@contoso.example"],
        cc="lena@tailspin.example",
        subject="Quote for 500 seats",
        message_id="<q2@contoso.example>",
        references="<q1@northwind.example>",
        html="<p>Could you send the <i>quote</i>?</p><script>x()</script>",
    )
    result = org.deliver(raw, mailbox="sam")
    assert result.activity_id is not None
    response = sam.post(
        "/api/emails",
        json={
            "mailbox_id": org.mailboxes["sam"],
            "html_body": "<p>Here it is.</p>",
            "in_reply_to": result.activity_id,
            "mode": "reply_all",
        },
    )
    assert response.status_code == 201, response.text
    reply_all = response.json()
    assert reply_all["subject"] == "Re: Quote for 500 seats"
    assert [r["address"] for r in reply_all["to"]] == [  # type: ignore[index]
        "maria@contoso.example",
        "tom@contoso.example",
    ]
    assert [r["address"] for r in reply_all["cc"]] == ["lena@tailspin.example"]  # type: ignore[index]
    assert reply_all["in_reply_to"] == "<q2@contoso.example>"
    assert reply_all["references"] == ["<q1@northwind.example>", "<q2@contoso.example>"]
    assert "Could you send the" in str(reply_all["html_body"])
    assert "x()" not in str(reply_all["html_body"])
    assert sam.post(f"/api/emails/{reply_all['id']}/send").status_code == 202
    _drain(org)
    [message] = smtp_server.wait_for(1)
    sent = message_from_bytes(message.content, policy=policy.default)
    assert sent["In-Reply-To"] == "<q2@contoso.example>"
    assert sent["References"] == "<q1@northwind.example> <q2@contoso.example>"
    assert sent["Subject"].startswith("Re: Quote for 500 seats CRM:")
    assert "Here it is." in sent.get_body(("plain",)).get_content()
    # The reply joins the original's conversation and names the email it answers.
    activity = sam.get(f"/api/activities/{reply_all['id']}").json()
    original = sam.get(f"/api/activities/{result.activity_id}").json()
    assert activity["conversation_id"] == original["conversation_id"]
    assert activity["correlation"] == {
        "method": "in_reply_to",
        "matched_activity_id": result.activity_id,
    }


def _reply_draft(client: TestClient, org: Org, original: int, mode: str) -> dict[str, object]:
    response = client.post(
        "/api/emails",
        json={"mailbox_id": org.mailboxes["sam"], "in_reply_to": original, "mode": mode},
    )
    assert response.status_code == 201, response.text
    draft: dict[str, object] = response.json()
    return draft


def test_a_forward_carries_the_original_attachments_and_a_fw_subject(
    org: Org, sam: TestClient
) -> None:
    raw = make_email(
        to="sam@northwind.example",
        message_id="<f1@contoso.example>",
        attachments=[("plan.txt", b"the plan", "text/plain")],
    )
    result = org.deliver(raw, mailbox="sam")
    assert result.activity_id is not None
    forward = _reply_draft(sam, org, result.activity_id, "forward")
    assert forward["subject"] == "Fw: Quote for 500 seats"
    assert (forward["to"], forward["in_reply_to"]) == ([], None)
    assert [a["filename"] for a in forward["attachments"]] == ["plan.txt"]  # type: ignore[index]
    reply = _reply_draft(sam, org, result.activity_id, "reply")
    assert [r["address"] for r in reply["to"]] == ["maria@contoso.example"]  # type: ignore[index]
    assert reply["attachments"] == []


def test_only_the_owner_may_write_from_a_mailbox(org: Org, sam: TestClient) -> None:
    draft = _draft(sam, org)
    org.tidings.setup.add_user("Rita Reader", "rita@northwind.example", ["tracking"], "rita-pass")
    rita = TestClient(create_app(org.tidings))
    rita.auth = ("rita@northwind.example", "rita-pass")
    body = {"mailbox_id": org.mailboxes["sam"], "to": ["maria@contoso.example"]}
    denied = [
        rita.post("/api/emails", json=body),
        rita.get(f"/api/emails/{draft['id']}"),
        rita.post(f"/api/emails/{draft['id']}/send"),
        rita.delete(f"/api/emails/{draft['id']}"),
    ]
    # Choosing Sam's mailbox is refused; Sam's draft, out of Rita's reach, is not found.
    assert [d.status_code for d in denied] == [403, 404, 404, 404]
    assert "your own mailbox" in denied[0].json()["detail"]


def test_a_queue_mailbox_sends_only_for_callers_who_may_send_as_a_queue(
    org: Org, sam: TestClient
) -> None:
    org.add_queue("support")
    body = {"mailbox_id": org.mailboxes["support"], "to": ["maria@contoso.example"]}
    assert sam.post("/api/emails", json=body).status_code == 403
    org.tidings.setup.add_user("Ada Admin", "ada@northwind.example", ["admin"], "ada-pass")
    ada = TestClient(create_app(org.tidings))
    ada.auth = ("ada@northwind.example", "ada-pass")
    created = ada.post("/api/emails", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["sender"]["address"] == "support@northwind.example"


def _no_outgoing_method(mailbox: Mailbox) -> None:
    mailbox.outgoing_method = SyncMethod.NONE


def _not_approved(mailbox: Mailbox) -> None:
    mailbox.approval = ApprovalStatus.PENDING


def _not_enabled(mailbox: Mailbox) -> None:
    mailbox.enabled = False


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_no_outgoing_method, "outgoing email method is None"),
        (_not_approved, "is not approved"),
        (_not_enabled, "run Test & Enable"),
    ],
)
def test_a_mailbox_that_cannot_send_says_why_before_anything_is_queued(
    org: Org, sam: TestClient, change: Callable[[Mailbox], None], reason: str
) -> None:
    draft = _draft(sam, org)
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["sam"])
        assert mailbox is not None
        change(mailbox)
        uow.mailboxes.save(mailbox)
        uow.commit()
    refused = sam.post(f"/api/emails/{draft['id']}/send")
    assert refused.status_code == 422
    assert reason in refused.json()["detail"]
    with org.tidings.uow() as uow:
        assert uow.outbox.get(int(str(draft["id"]))) is None
    assert sam.get(f"/api/emails/{draft['id']}").json()["status"] == "draft"


def test_a_refused_recipient_fails_the_email_with_the_reason_alerts_the_owner_and_can_be_retried(
    org: Org, sam: TestClient, smtp_server: SmtpServer
) -> None:
    smtp_server.unknown_recipients = {"bob@contoso.example"}
    draft = _draft(sam, org, to=["bob@contoso.example"])
    sam.post(f"/api/emails/{draft['id']}/send")
    _drain(org)
    failed = sam.get(f"/api/emails/{draft['id']}").json()
    assert failed["status"] == "failed"
    assert failed["failure_reason"] == (
        "The mail server refused the recipient bob@contoso.example: 550 5.1.1 no such user"
    )
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes["sam"])
        assert mailbox is not None
        [alert] = [a for a in mailbox.alerts if a.level is AlertLevel.ERROR]
    assert "bob@contoso.example" in alert.text and "550 5.1.1 no such user" in alert.text
    smtp_server.unknown_recipients = set()
    retried = sam.post(f"/api/emails/{draft['id']}/retry")
    assert (retried.status_code, retried.json()["status"]) == (202, "pending_send")
    _drain(org)
    assert len(smtp_server.wait_for(1)) == 1
    assert sam.get(f"/api/emails/{draft['id']}").json()["status"] == "sent"
    again = sam.post(f"/api/emails/{draft['id']}/retry")
    assert again.status_code == 409


def test_an_email_interrupted_after_handover_is_retried_only_when_the_writer_confirms(
    org: Org, sam: TestClient, smtp_server: SmtpServer
) -> None:
    draft = _draft(sam, org)
    email_id = int(str(draft["id"]))
    sam.post(f"/api/emails/{email_id}/send")
    with org.tidings.uow() as uow:
        uow.outbox.set_phase(email_id, OutboxPhase.HANDED_OVER, org.tidings.clock.now())
        uow.commit()
    org.tidings.outgoing.recover()
    shown = sam.get(f"/api/emails/{email_id}").json()
    assert (shown["status"], shown["failure_reason"]) == ("failed", INTERRUPTED_AFTER_HANDOVER)
    refused = sam.post(f"/api/emails/{email_id}/retry")
    assert refused.status_code == 409
    assert "confirm" in refused.json()["detail"]
    confirmed = sam.post(f"/api/emails/{email_id}/retry", json={"confirm_not_delivered": True})
    assert confirmed.status_code == 202
    _drain(org)
    assert len(smtp_server.wait_for(1)) == 1


def test_attachments_over_the_limit_or_of_a_blocked_kind_are_refused(
    org: Org, sam: TestClient
) -> None:
    org.configure(max_attachment_kb=1)
    draft = _draft(sam, org)
    blocked = sam.post(
        f"/api/emails/{draft['id']}/attachments",
        files={"file": ("run.exe", b"MZ", "application/octet-stream")},
    )
    big = sam.post(
        f"/api/emails/{draft['id']}/attachments",
        files={"file": ("big.txt", b"x" * 2048, "text/plain")},
    )
    assert (blocked.status_code, big.status_code) == (400, 400)
    assert ".exe is blocked" in blocked.json()["detail"]
    assert "maximum attachment size" in big.json()["detail"]
    assert sam.get(f"/api/emails/{draft['id']}").json()["attachments"] == []


def test_a_draft_can_be_changed_and_discarded(org: Org, sam: TestClient) -> None:
    draft = _draft(sam, org, regarding=str(org.records["deal"]))
    changed = sam.patch(
        f"/api/emails/{draft['id']}",
        json={"subject": "New subject", "bcc": ["lena@tailspin.example"], "regarding": None},
    )
    assert changed.status_code == 200, changed.text
    shown = changed.json()
    assert (shown["subject"], shown["regarding"]) == ("New subject", None)
    assert [r["address"] for r in shown["to"]] == ["maria@contoso.example"]
    assert [r["address"] for r in shown["bcc"]] == ["lena@tailspin.example"]
    bad = sam.patch(f"/api/emails/{draft['id']}", json={"to": ["not an address"]})
    assert bad.status_code == 422
    assert bad.json()["detail"] == "body.to: 'not an address' is not an email address or KIND:ID"
    assert sam.delete(f"/api/emails/{draft['id']}").status_code == 204
    assert sam.get(f"/api/emails/{draft['id']}").status_code == 404


def test_a_recipient_whose_domain_is_no_valid_international_name_is_refused_by_field(
    org: Org, sam: TestClient
) -> None:
    body = {
        "mailbox_id": org.mailboxes["sam"],
        "to": ["maria@bücher.example"],
        "cc": ["ops@-bücher.example"],
        "subject": "Angebot",
        "html_body": "<p>Hallo</p>",
    }
    refused = sam.post("/api/emails", json=body)
    assert refused.status_code == 422, refused.text
    assert "-bücher.example" in refused.json()["detail"]
    assert "cc" in refused.json()["detail"] and "to:" not in refused.json()["detail"]


@pytest.mark.parametrize(
    ("reply_to", "expected"),
    [
        ("Lena Fischer <lena@tailspin.example>", ["lena@tailspin.example"]),
        (
            "=?utf-8?q?Lena_F=C3=BCscher?= <Lena@Tailspin.example>, ops@xn--bcher-kva.example",
            ["lena@tailspin.example", "ops@bücher.example"],
        ),
        # Nothing that is an address: the sender, as without Reply-To.
        ("undisclosed-recipients:;", ["noreply@forms.example"]),
    ],
)
def test_a_reply_goes_where_the_originals_reply_to_asks(
    org: Org, sam: TestClient, reply_to: str, expected: list[str]
) -> None:
    # A web form's mail: sent by noreply@, its Reply-To the person who filled the form in.
    raw = make_email(
        sender="Contact form <noreply@forms.example>",
        to="sam@northwind.example",
        cc="tom@contoso.example",
        subject="Request a quote",
        message_id="<form-1@forms.example>",
        headers={"Reply-To": reply_to},
    )
    result = org.deliver(raw, mailbox="sam")
    assert result.activity_id is not None
    reply = _reply_draft(sam, org, result.activity_id, "reply")
    assert [r["address"] for r in reply["to"]] == expected  # type: ignore[index, union-attr]
    reply_all = _reply_draft(sam, org, result.activity_id, "reply_all")
    assert [r["address"] for r in reply_all["to"]] == expected  # type: ignore[index, union-attr]
    assert [r["address"] for r in reply_all["cc"]] == ["tom@contoso.example"]  # type: ignore[index, union-attr]
