"""Record pages of the console as a Dynamics 365 admin uses them: actions on one mailbox come
back to that mailbox with their result, destructive actions ask first (without script), and
a refusal keeps the top bar with Sign out."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org, make_email
from tests.integration.test_console import ADMIN, BASE, csrf_of, sign_in, signed_in_admin
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.entrypoints.api.app import create_app


@pytest.fixture
def admin(org: Org) -> TestClient:
    return signed_in_admin(org)


def _enabled(org: Org, name: str) -> bool:
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(org.mailboxes[name])
        assert mailbox is not None
        return mailbox.enabled


def test_approve_email_on_a_mailbox_page_comes_back_to_it_with_the_result(
    admin: TestClient, org: Org
) -> None:
    org.add_user("erin", approved=False, enabled=False)
    mailbox_id = org.mailboxes["erin"]
    page = admin.get(f"/mailboxes/{mailbox_id}").text
    assert 'name="back" value="record"' in page
    done = admin.post(
        "/mailboxes/approve",
        data={"mailbox_id": mailbox_id, "back": "record"},
        follow_redirects=False,
    )
    assert done.headers["location"] == f"/mailboxes/{mailbox_id}?done=approved-one"
    shown = admin.get(done.headers["location"]).text
    assert '<p class="notice" role="status">The email address is approved.</p>' in shown
    # From the list, the list it stays.
    done = admin.post("/mailboxes/approve", data={"mailbox_id": mailbox_id}, follow_redirects=False)
    assert done.headers["location"] == "/mailboxes?view=all&done=approved"


# Where workers share a task queue (PostgreSQL) they test it: test_test_and_enable_queued.py.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_test_and_enable_on_a_mailbox_page_says_there_whether_it_passed(
    admin: TestClient, org: Org
) -> None:
    # No server profile: the test cannot pass, and the page says so where it was asked.
    mailbox_id = org.mailboxes["dana"]
    done = admin.post(
        "/mailboxes/test-enable",
        data={"mailbox_id": mailbox_id, "back": "record"},
        follow_redirects=False,
    )
    assert done.headers["location"] == f"/mailboxes/{mailbox_id}?done=tested-failed"
    shown = admin.get(done.headers["location"]).text
    assert "Test &amp; Enable did not pass" in shown
    assert "no email server profile: choose one" in shown


def test_disable_asks_first_without_script_then_disables_and_says_so(
    admin: TestClient, org: Org
) -> None:
    mailbox_id = org.mailboxes["dana"]
    form = {"mailbox_id": str(mailbox_id), "back": "record"}
    asked = admin.post("/mailboxes/disable", data=form, follow_redirects=False)
    assert asked.status_code == 200
    assert "Disable 1 mailbox?" in asked.text
    assert f'<a href="/mailboxes/{mailbox_id}" id="cancel">' in asked.text
    assert _enabled(org, "dana")
    # The confirm page posts the same fields again, with its own token and the answer.
    again = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', asked.text))
    assert again == {**form, "csrf_token": csrf_of(asked.text), "confirmed": "yes"}
    done = admin.post("/mailboxes/disable", data=again, follow_redirects=False)
    assert done.headers["location"] == f"/mailboxes/{mailbox_id}?done=disabled"
    assert not _enabled(org, "dana")
    shown = admin.get(done.headers["location"]).text
    assert "Disabled: server-side synchronization stopped" in shown
    assert "Disabled by Ada Admin" in shown


def test_deleting_a_profile_and_revoking_a_token_ask_first(admin: TestClient, org: Org) -> None:
    with org.tidings.uow() as uow:
        profile_id = uow.server_profiles.add(ServerProfile("Unused", ServerProfileKind.IMAP_SMTP))
        uow.commit()
    asked = admin.post(f"/profiles/{profile_id}/delete", follow_redirects=False)
    assert asked.status_code == 200 and "Delete the email server profile Unused?" in asked.text
    assert admin.get(f"/profiles/{profile_id}").status_code == 200
    done = admin.post(
        f"/profiles/{profile_id}/delete", data={"confirmed": "yes"}, follow_redirects=False
    )
    assert done.headers["location"] == "/profiles?done=deleted"
    assert admin.get(f"/profiles/{profile_id}").status_code == 404

    admin.post("/tokens", data={"name": "robot"})
    token_id = int(re.findall(r'action="/tokens/(\d+)/revoke"', admin.get("/tokens").text)[0])
    asked = admin.post(f"/tokens/{token_id}/revoke", follow_redirects=False)
    assert asked.status_code == 200 and "Revoke this API token?" in asked.text
    assert f'action="/tokens/{token_id}/revoke"' in admin.get("/tokens").text
    admin.post(f"/tokens/{token_id}/revoke", data={"confirmed": "yes"})
    assert f'action="/tokens/{token_id}/revoke"' not in admin.get("/tokens").text


def test_a_refusal_keeps_the_top_bar_with_help_and_sign_out(admin: TestClient, org: Org) -> None:
    org.tidings.setup.add_user("Nora", "nora@northwind.example", [], "nora-password")
    nora = TestClient(create_app(org.tidings), base_url=BASE)
    sign_in(nora, "nora@northwind.example", "nora-password")
    for url in ("/activities", "/profiles", "/mailboxes/1"):
        refused = nora.get(url)
        assert refused.status_code == 403, url
        assert 'action="/signout"' in refused.text and ">Sign out</button>" in refused.text
        assert "nora@northwind.example" in refused.text
    # Nobody signed in: no top bar to keep.
    assert (
        'action="/signout"'
        not in TestClient(create_app(org.tidings), base_url=BASE).get("/mailboxes/x").text
    )


def test_the_top_bar_links_to_the_api_documentation_and_back(admin: TestClient) -> None:
    assert '<a class="api-link" href="/api/docs">API documentation</a>' in admin.get("/").text
    spec = admin.get("/api/openapi.json").json()
    assert "[Back to the Tidings console](/)" in spec["info"]["description"]


def _mailbox_of(org: Org, email: str) -> tuple[str, int | None, str] | None:
    with org.tidings.uow() as uow:
        user = uow.directory.get_user_by_email(email)
        if user is None:
            return None
        mailbox = uow.mailboxes.get_by_owner(user.ref)
        assert mailbox is not None
        return mailbox.address, mailbox.profile_id, mailbox.approval.value


def test_a_new_user_gets_a_mailbox_in_the_same_form(admin: TestClient, org: Org) -> None:
    with org.tidings.uow() as uow:
        profile_id = uow.server_profiles.add(ServerProfile("Mail", ServerProfileKind.IMAP_SMTP))
        uow.commit()
    form = admin.get("/users").text
    assert 'name="create_mailbox"' in form
    assert f'<option value="{profile_id}">Mail</option>' in form
    done = admin.post(
        "/users",
        data={
            "full_name": "Erin Ek",
            "email": "Erin@Northwind.example",
            "create_mailbox": "yes",
            "mailbox_profile_id": str(profile_id),
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    assert _mailbox_of(org, "erin@northwind.example") == (
        "erin@northwind.example",
        profile_id,
        "pending_approval",
    )


def test_a_user_whose_mailbox_cannot_be_made_is_not_made_either(
    admin: TestClient, org: Org
) -> None:
    # dana@northwind.example already has a mailbox: the whole form is refused.
    answer = admin.post(
        "/users",
        data={
            "full_name": "Fay",
            "email": "fay@northwind.example",
            "create_mailbox": "yes",
            "mailbox_address": "dana@northwind.example",
        },
    )
    assert answer.status_code == 409
    assert "a mailbox with the address dana@northwind.example exists" in answer.text
    assert _mailbox_of(org, "fay@northwind.example") is None
    # Only yes or no (a ticked box posts "on").
    answer = admin.post(
        "/users",
        data={"full_name": "Fay", "email": "fay@northwind.example", "create_mailbox": "maybe"},
    )
    assert answer.status_code == 422
    assert 'id="f-create-mailbox-error">choose yes or no<' in answer.text


#: A blocked attachment's bytes: a PE header and DOS stub, found in no page by chance.
_EXECUTABLE = b"MZ\x90\x00\x03\x00This program cannot be run in DOS mode."


def _activity_with_attachments(org: Org) -> int:
    raw = make_email(
        attachments=[
            ("Quote \u201cfinal\u201d.pdf", b"%PDF-1.7 quote", "application/pdf"),
            ("setup.exe", _EXECUTABLE, "application/octet-stream"),
            ("notes.html", b"<script>alert(1)</script>", "text/html"),
        ]
    )
    result = org.deliver(raw)
    assert result.activity_id is not None
    return result.activity_id


def test_attachments_download_under_a_safe_name_and_blocked_ones_never(
    admin: TestClient, org: Org
) -> None:
    activity_id = _activity_with_attachments(org)
    shown = admin.get(f"/activities/{activity_id}")
    assert shown.status_code == 200, shown.text
    page = shown.text
    base = f"/activities/{activity_id}/attachments"
    assert f'<a href="{base}/1" download>Quote \u201cfinal\u201d.pdf</a>' in page
    assert f'href="{base}/2"' not in page  # setup.exe: blocked, no link
    assert "<strong>blocked</strong>: the extension .exe is blocked" in page

    pdf = admin.get(f"{base}/1")
    assert pdf.status_code == 200, pdf.text
    assert pdf.content == b"%PDF-1.7 quote"
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == (
        'attachment; filename="Quote _final_.pdf"; '
        "filename*=UTF-8''Quote%20%E2%80%9Cfinal%E2%80%9D.pdf"
    )
    assert pdf.headers["x-content-type-options"] == "nosniff"
    # HTML is handed over as a file, never rendered in the console's origin.
    html = admin.get(f"{base}/3")
    assert html.headers["content-disposition"].startswith('attachment; filename="notes.html"')
    assert "sandbox" in html.headers["content-security-policy"]

    blocked = admin.get(f"{base}/2")
    assert blocked.status_code == 403
    assert "the extension .exe is blocked" in blocked.text
    # Not its bytes: "MZ" alone may well occur in a page's random tokens.
    assert _EXECUTABLE not in blocked.content
    assert admin.get(f"{base}/4").status_code == 404
    assert admin.get(f"{base}/99999999999999999999").status_code == 404


def test_an_extension_blocked_after_the_email_arrived_is_not_served_either(
    admin: TestClient, org: Org
) -> None:
    activity_id = _activity_with_attachments(org)
    org.configure(blocked_extensions=frozenset({"pdf"}))
    base = f"/activities/{activity_id}/attachments"
    assert f'href="{base}/1"' not in admin.get(f"/activities/{activity_id}").text
    answer = admin.get(f"{base}/1")
    assert answer.status_code == 403 and "the extension .pdf is blocked" in answer.text


def test_attachments_are_only_for_those_who_may_read_the_activity(org: Org) -> None:
    activity_id = _activity_with_attachments(org)
    org.tidings.setup.add_user("Nora", "nora@northwind.example", [], "nora-password")
    nora = TestClient(create_app(org.tidings), base_url=BASE)
    sign_in(nora, "nora@northwind.example", "nora-password")
    answer = nora.get(f"/activities/{activity_id}/attachments/1")
    assert answer.status_code == 403 and b"%PDF" not in answer.content
    signed_out = TestClient(create_app(org.tidings), base_url=BASE)
    answer = signed_out.get(f"/activities/{activity_id}/attachments/1", follow_redirects=False)
    assert answer.status_code == 303


def test_the_mailbox_form_shows_every_problem_beside_its_field_and_saves_nothing(
    admin: TestClient, org: Org
) -> None:
    mailbox_id = org.mailboxes["dana"]
    answer = admin.post(
        f"/mailboxes/{mailbox_id}",
        data={
            "address": "not an address <script>",
            "profile_id": "99999999999999999999",
            "incoming_method": "carrier_pigeon",
            "outgoing_method": "server_side_synchronization",
        },
    )
    assert answer.status_code == 422
    errors = dict(re.findall(r'id="f-([a-z-]+)-error">([^<]*)<', answer.text))
    assert set(errors) == {"address", "profile-id", "incoming-method"}
    assert errors["profile-id"] == "choose one of the listed options"
    assert 'aria-describedby="f-address-error"' in answer.text
    assert "<script>" not in answer.text
    with org.tidings.uow() as uow:
        mailbox = uow.mailboxes.get(mailbox_id)
        assert mailbox is not None and mailbox.address == "dana@northwind.example"
    # A valid form saves.
    done = admin.post(
        f"/mailboxes/{mailbox_id}",
        data={
            "address": "dana@northwind.example",
            "profile_id": "",
            "incoming_method": "none",
            "outgoing_method": "server_side_synchronization",
        },
        follow_redirects=False,
    )
    assert done.headers["location"] == f"/mailboxes/{mailbox_id}?done=saved"


def test_the_api_serves_attachments_as_the_console_does(org: Org) -> None:
    activity_id = _activity_with_attachments(org)
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    api = TestClient(create_app(org.tidings), base_url=BASE)
    api.auth = ADMIN
    base = f"/api/activities/{activity_id}/attachments"
    pdf = api.get(f"{base}/1")
    assert pdf.status_code == 200 and pdf.content == b"%PDF-1.7 quote"
    assert pdf.headers["content-disposition"].startswith("attachment; ")
    assert pdf.headers["x-content-type-options"] == "nosniff"
    blocked = api.get(f"{base}/2")
    assert blocked.status_code == 403
    assert "the extension .exe is blocked" in blocked.json()["detail"]
    assert api.get(f"{base}/9").status_code == 404
