"""The App for Outlook over HTTP: its manifest (valid against Microsoft's schemas, with this
organization's address), the task pane's policy, and its panel for read and compose.
(tests/e2e/test_addin_browser.py drives the same pane in Chromium with an Office.js stand-in.)"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from tests.builders import Org, make_email
from tidings.bootstrap import Tidings
from tidings.domain.message import MessageOrigin
from tidings.domain.people import NOT_AUTHORIZED_TO_TRACK, Privilege, SecurityRole, TrackIncoming
from tidings.entrypoints.api.app import create_app

ADMIN = ("ada@northwind.example", "ada-password")
BASE = "http://127.0.0.1:8025"
SCHEMAS = Path(__file__).parents[1] / "data" / "office-addin-schemas"
MANIFEST_NS = {"o": "http://schemas.microsoft.com/office/appforoffice/1.1"}


@pytest.fixture(scope="module")
def manifest_schema() -> etree.XMLSchema:
    """Microsoft's manifest schema; its imports resolve to the files beside it, offline."""
    return etree.XMLSchema(etree.parse(str(SCHEMAS / "OfficeAppManifestV1_1.xsd")))


@pytest.fixture
def client(org: Org) -> TestClient:
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    return TestClient(create_app(org.tidings), base_url=BASE)


def signed_in(client: TestClient, tidings: Tidings, email: str, password: str) -> str:
    """A session for ``email``; returns its CSRF token."""
    session = tidings.access.sign_in(email, password)
    assert session is not None
    client.cookies.set("tidings_session", session.token)
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/tokens").text)
    assert found
    return found.group(1)


def _dana_signs_in(org: Org, client: TestClient, *, records: bool = True) -> str:
    """Dana, with a password and the tracking role (and, by default, reading CRM records)."""
    with org.tidings.uow() as uow:
        roles = set(org.users["dana"].role_ids)
        if records:
            roles.add(
                uow.directory.add_role(SecurityRole("Readers", frozenset({Privilege.READ_RECORDS})))
            )
        uow.commit()
    admin = org.tidings.access.session_caller(org.tidings.access.sign_in(*ADMIN).token)  # type: ignore[union-attr]
    assert admin is not None
    dana_id = org.users["dana"].id
    assert dana_id is not None
    org.tidings.people.assign_user_roles(admin[0], dana_id, sorted(roles))
    org.tidings.people.set_password(admin[0], dana_id, "dana-password-1")
    return signed_in(client, org.tidings, "dana@northwind.example", "dana-password-1")


def test_the_manifest_is_valid_against_microsofts_schema_with_the_requests_address(
    client: TestClient, org: Org, manifest_schema: etree.XMLSchema
) -> None:
    signed_in(client, org.tidings, *ADMIN)
    assert 'href="/addin/manifest.xml"' in client.get("/settings/email").text
    answer = client.get("/addin/manifest.xml")
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    document = etree.fromstring(answer.content)
    manifest_schema.assertValid(document)
    sources = document.xpath("//o:SourceLocation/@DefaultValue", namespaces=MANIFEST_NS)
    assert sources == [f"{BASE}/addin/taskpane"] * 2
    text = answer.text
    assert "MessageReadCommandSurface" in text and "MessageComposeCommandSurface" in text


def test_the_manifest_names_the_configured_public_address(
    org: Org, manifest_schema: etree.XMLSchema
) -> None:
    org.tidings.settings.public_url = "https://crm.northwind.example/"
    client = TestClient(create_app(org.tidings), base_url=BASE)
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    signed_in(client, org.tidings, *ADMIN)
    document = etree.fromstring(client.get("/addin/manifest.xml").content)
    manifest_schema.assertValid(document)
    urls = document.xpath("//@DefaultValue[starts-with(., 'http')]")
    assert urls and all(u.startswith("https://crm.northwind.example/") for u in urls)


def test_a_broken_manifest_is_refused_by_the_schema(
    client: TestClient, org: Org, manifest_schema: etree.XMLSchema
) -> None:
    # The check could fail: the same manifest without its required Id is invalid.
    signed_in(client, org.tidings, *ADMIN)
    document = etree.fromstring(client.get("/addin/manifest.xml").content)
    (identity,) = document.xpath("/o:OfficeApp/o:Id", namespaces=MANIFEST_NS)
    identity.getparent().remove(identity)
    assert not manifest_schema.validate(document)


def test_only_admins_download_the_manifest(client: TestClient, org: Org) -> None:
    _dana_signs_in(org, client)
    assert client.get("/addin/manifest.xml").status_code == 403


def test_the_task_pane_loads_office_js_and_may_be_framed_by_outlook(client: TestClient) -> None:
    pane = client.get("/addin/taskpane")
    assert pane.status_code == 200
    assert '<script src="https://appsforoffice.microsoft.com/lib/1/hosted/office.js">' in pane.text
    policy = pane.headers["content-security-policy"]
    assert "script-src 'self' https://appsforoffice.microsoft.com" in policy
    assert "frame-ancestors 'self' https://outlook.office.com" in policy
    assert "x-frame-options" not in pane.headers
    # The rest of the console still refuses to be framed.
    assert client.get("/signin").headers["x-frame-options"] == "DENY"


def test_the_panel_asks_a_visitor_without_a_session_to_sign_in(client: TestClient) -> None:
    panel = client.get("/addin/panel", params={"message_id": "<m1@contoso.example>"})
    assert panel.status_code == 200
    assert 'id="sign-in"' in panel.text


def test_a_user_without_the_tracking_role_sees_d365s_words(client: TestClient, org: Org) -> None:
    admin = org.tidings.access.session_caller(org.tidings.access.sign_in(*ADMIN).token)  # type: ignore[union-attr]
    assert admin is not None
    sam = org.add_user("sam", tracking_role=False)
    assert sam.id is not None
    org.tidings.people.set_password(admin[0], sam.id, "sam-password-1")
    signed_in(client, org.tidings, "sam@northwind.example", "sam-password-1")
    panel = client.get("/addin/panel", params={"message_id": "<m1@contoso.example>"})
    assert panel.status_code == 403
    assert NOT_AUTHORIZED_TO_TRACK in html.unescape(panel.text)


def test_read_mode_explains_tracks_sets_regarding_and_untracks(
    client: TestClient, org: Org
) -> None:
    csrf = _dana_signs_in(org, client)
    org.tidings.personal_options.update_options(
        org.tidings.access.session_caller(client.cookies["tidings_session"])[0],  # type: ignore[index]
        org.users["dana"].id,
        track_incoming=TrackIncoming.NONE,
    )
    org.deliver(make_email(message_id="<pane-1@contoso.example>"))
    ask = {"message_id": "<pane-1@contoso.example>", "mode": "read"}
    panel = client.get("/addin/panel", params=ask)
    assert "Not tracked" in panel.text and "track_incoming_option" in panel.text
    raw_id = re.search(r'name="raw_message_id" value="(\d+)"', panel.text)
    assert raw_id
    headers = {"X-CSRF-Token": csrf}
    tracked = client.post(
        "/addin/track",
        data={"raw_message_id": raw_id.group(1), "message_id": ask["message_id"]},
        headers=headers,
    )
    assert tracked.status_code == 200 and ">Tracked<" in tracked.text
    assert "Maria Garcia" in tracked.text  # the sender, resolved to the contact
    found = client.get("/addin/panel", params={**ask, "find": "contoso"})
    assert "Set regarding: Contoso" in found.text
    activity_id = re.search(r'name="activity_id" value="(\d+)"', found.text)
    assert activity_id
    contoso = org.records["contoso"]
    saved = client.post(
        "/addin/regarding",
        data={"activity_id": activity_id.group(1), "kind": contoso.kind.value,
              "record_id": str(contoso.id), "message_id": ask["message_id"]},
        headers=headers,
    )  # fmt: skip
    assert 'id="regarding">Contoso' in saved.text
    refused = client.post(
        "/addin/untrack",
        data={"activity_id": activity_id.group(1), "reason": " ", "message_id": ask["message_id"]},
        headers=headers,
    )
    assert refused.status_code == 422 and "say why" in refused.text
    assert 'aria-describedby="untrack-reason-error"' in refused.text
    gone = client.post(
        "/addin/untrack",
        data={"activity_id": activity_id.group(1), "reason": "private email",
              "message_id": ask["message_id"]},
        headers=headers,
    )  # fmt: skip
    assert "Not tracked" in gone.text and "untracked by hand by Dana: private email" in gone.text


def test_actions_without_the_sessions_csrf_token_are_refused(client: TestClient, org: Org) -> None:
    _dana_signs_in(org, client)
    refused = client.post("/addin/track", data={"raw_message_id": "1"})
    assert refused.status_code == 403


def test_compose_mode_keeps_a_track_when_sent_request_with_its_regarding(
    client: TestClient, org: Org
) -> None:
    csrf = _dana_signs_in(org, client)
    token = "Zm9vYmFyYmF6cXV4cXV1eA"
    ask = {"mode": "compose", "token": token}
    assert "Track when sent" in client.get("/addin/panel", params=ask).text
    deal = org.records["deal"]
    done = client.post(
        "/addin/track-when-sent",
        data={"token": token, "kind": deal.kind.value, "record_id": str(deal.id)},
        headers={"X-CSRF-Token": csrf},
    )
    assert "will be tracked when it is sent" in done.text
    assert "regarding Contoso: 500 seats" in client.get("/addin/panel", params=ask).text


def test_the_tracking_address_is_an_email_setting_in_the_api_and_the_console(
    client: TestClient, org: Org
) -> None:
    signed_in(client, org.tidings, *ADMIN)
    page = client.get("/settings/email")
    assert 'name="tracking_address"' in page.text
    api = TestClient(create_app(org.tidings), base_url=BASE)
    answer = api.patch(
        "/api/settings/email", json={"tracking_address": " CRM@Northwind.example "}, auth=ADMIN
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["tracking_address"] == "crm@northwind.example"
    bad = api.patch("/api/settings/email", json={"tracking_address": "not an address"}, auth=ADMIN)
    # A field's bad value is refused as the schema refuses one: 422, located at the field.
    assert bad.status_code == 422
    assert bad.json()["detail"] == "body.tracking_address: 'not an address' is not an email address"
    assert 'value="crm@northwind.example"' in client.get("/settings/email").text


def test_an_email_without_a_message_id_is_found_by_its_item_id(
    client: TestClient, org: Org
) -> None:
    _dana_signs_in(org, client)
    # A mail API's id, in the REST form Graph gives it; Outlook's item id has '/' and '+'.
    origin = MessageOrigin(org.mailboxes["dana"], "INBOX", 1, "AAMkAD-item_1")
    org.tidings.ingest.ingest(make_email(message_id=None, subject="No id"), origin)
    panel = client.get("/addin/panel", params={"item_id": "AAMkAD/item+1", "mode": "read"})
    assert ">Tracked<" in panel.text and "Maria Garcia" in panel.text
    unknown = client.get("/addin/panel", params={"item_id": "AAMkAD/other", "mode": "read"})
    assert "Not seen yet" in unknown.text
