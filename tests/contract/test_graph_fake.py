"""The Graph fake held to the contract: tokens through MSAL, Microsoft's own client library,
and the Graph calls Tidings makes through plain HTTPS as the documentation shows them."""

from __future__ import annotations

import base64
import datetime
import ssl
from typing import Any

import httpx
import jwt
import msal
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.builders import make_email
from tests.contract.conftest import SECRET
from tests.contract.graph_fake import FakeApp, FakeGraphServer

DANA = "dana@northwind.example"
SCOPES = ["https://graph.microsoft.com/.default"]


@pytest.fixture(autouse=True)
def _msal_verifies_with_the_test_ca(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests, under MSAL, lets these variables override a session's verify= (a CA file):
    # without them MSAL verifies the fake against its own CA, as it is told.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def msal_app(graph: FakeGraphServer, client_id: str, credential: Any, tenant: str | None = None):
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=f"{graph.authority_url}/{tenant or graph.tenant_id}",
        validate_authority=False,
        instance_discovery=False,
        verify=str(graph.ca_file),
        token_cache=msal.TokenCache(),
    )


def token(graph: FakeGraphServer, app: FakeApp) -> str:
    result = msal_app(graph, app.client_id, SECRET).acquire_token_for_client(scopes=SCOPES)
    return str(result["access_token"])


def client(graph: FakeGraphServer, app: FakeApp, **headers: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{graph.graph_url}/v1.0",
        verify=ssl.create_default_context(cafile=graph.ca_file),
        headers={"Authorization": f"Bearer {token(graph, app)}", **headers},
    )


def test_msal_gets_a_token_carrying_the_apps_granted_roles(graph, graph_app):
    # The client credentials grant with a secret answers a bearer token whose roles claim
    # holds the application permissions granted.
    result = msal_app(graph, graph_app.client_id, SECRET).acquire_token_for_client(scopes=SCOPES)
    assert result["token_type"] == "Bearer"
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["Mail.ReadWrite", "Mail.Send"]
    assert claims["tid"] == graph.tenant_id and claims["aud"] == "https://graph.microsoft.com"


def test_a_wrong_secret_is_invalid_client_aadsts7000215(graph, graph_app):
    # MSAL hands back the documented error, not a token.
    result = msal_app(graph, graph_app.client_id, "nope").acquire_token_for_client(scopes=SCOPES)
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]


def test_an_unknown_app_is_aadsts700016(graph, graph_app):
    result = msal_app(graph, "0000-unknown", SECRET).acquire_token_for_client(scopes=SCOPES)
    assert result["error_codes"] == [700016]


def test_an_unknown_tenant_fails_discovery_with_aadsts90002(graph, graph_app):
    # MSAL reads the tenant's OpenID configuration first; an unknown tenant stops it there.
    with pytest.raises(ValueError, match="tenant name") as raised:
        msal_app(graph, graph_app.client_id, SECRET, tenant="contoso.example")
    assert "AADSTS90002" in str(raised.value.__context__)


def test_the_tenant_may_be_named_by_its_domain(graph, graph_app):
    app = msal_app(graph, graph_app.client_id, SECRET, tenant=graph.tenant_domain)
    assert "access_token" in app.acquire_token_for_client(scopes=SCOPES)


def test_msal_gets_a_token_with_a_certificate_assertion(graph, tmp_path):
    # The certificate credential: MSAL signs a client assertion naming the certificate by its
    # SHA-256 thumbprint; the fake checks it against the registered certificate.
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tidings")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    app = graph.add_app(certificate_pem=cert_pem)
    credential = {"private_key": key_pem.decode(), "public_certificate": cert_pem.decode()}
    result = msal_app(graph, app.client_id, credential).acquire_token_for_client(scopes=SCOPES)
    assert "access_token" in result, result
    other = graph.add_app(secret="x")
    refused = msal_app(graph, other.client_id, credential).acquire_token_for_client(scopes=SCOPES)
    assert refused["error_codes"] == [700027]


def test_the_inbox_is_reached_by_its_well_known_name(graph, graph_app):
    with client(graph, graph_app) as http:
        inbox = http.get(f"/users/{DANA}/mailFolders/inbox").json()
        assert inbox["displayName"] == "Inbox"
        again = http.get(f"/users/{DANA}/mailFolders/{inbox['id']}").json()
        assert again["id"] == inbox["id"]


def test_folders_are_found_by_display_name_level_by_level(graph, graph_app):
    # Top-level folders under /mailFolders, then /childFolders, each with $filter.
    graph.create_folder(DANA, "Projects/Contoso")
    with client(graph, graph_app) as http:
        top = http.get(
            f"/users/{DANA}/mailFolders", params={"$filter": "displayName eq 'Projects'"}
        ).json()["value"]
        assert [f["displayName"] for f in top] == ["Projects"]
        child = http.get(
            f"/users/{DANA}/mailFolders/{top[0]['id']}/childFolders",
            params={"$filter": "displayName eq 'Contoso'"},
        ).json()["value"]
        assert [f["displayName"] for f in child] == ["Contoso"]


def test_listing_folders_pages_with_next_links(graph, graph_app):
    with client(graph, graph_app) as http:
        page = http.get(f"/users/{DANA}/mailFolders", params={"$top": "4"}).json()
        names = [f["displayName"] for f in page["value"]]
        while "@odata.nextLink" in page:
            page = http.get(page["@odata.nextLink"]).json()
            names += [f["displayName"] for f in page["value"]]
    assert "Inbox" in names and "Sent Items" in names and len(names) == len(set(names)) == 6


def delta_round(http: httpx.Client, url: str, **params: str) -> tuple[list[dict], str, int]:
    """Follow nextLinks to the deltaLink; the items, the deltaLink and the pages read."""
    page = http.get(url, params=params or None).json()
    items, pages = list(page["value"]), 1
    while "@odata.nextLink" in page:
        page = http.get(page["@odata.nextLink"]).json()
        items += page["value"]
        pages += 1
    return items, page["@odata.deltaLink"], pages


def test_delta_pages_by_the_preferred_size_then_hands_a_delta_link(graph, graph_app):
    # The first round lists the folder in pages of odata.maxpagesize; the deltaLink then
    # lists only what came since, and a message that left the folder as @removed.
    ids = [graph.deliver(DANA, make_email(message_id=f"<m{i}@contoso.example>")) for i in range(5)]
    headers = {"Prefer": 'IdType="ImmutableId", odata.maxpagesize=2'}
    with client(graph, graph_app, **headers) as http:
        url = f"/users/{DANA}/mailFolders/inbox/messages/delta"
        items, link, pages = delta_round(http, url, **{"$select": "receivedDateTime,subject"})
        assert pages == 3 and sorted(i["id"] for i in items) == sorted(ids)
        assert set(items[0]) == {"@odata.type", "@odata.etag", "id", "receivedDateTime", "subject"}
        new = graph.deliver(DANA, make_email(message_id="<new@contoso.example>"))
        graph.move(DANA, ids[0], "Archive")
        items, link, _ = delta_round(http, link)
        assert [i["id"] for i in items if "@removed" not in i] == [new]
        assert [i["id"] for i in items if "@removed" in i] == [ids[0]]
        assert delta_round(http, link)[0] == []


def test_delta_filters_the_first_round_by_received_time(graph, graph_app):
    old = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    graph.deliver(DANA, make_email(message_id="<old@x>"), received=old)
    recent = graph.deliver(DANA, make_email(message_id="<recent@x>"))
    with client(graph, graph_app, Prefer='IdType="ImmutableId"') as http:
        items, _, _ = delta_round(
            http,
            f"/users/{DANA}/mailFolders/inbox/messages/delta",
            **{"$filter": "receivedDateTime ge 2026-06-01T00:00:00Z"},
        )
    assert [i["id"] for i in items] == [recent]


def test_without_the_immutable_id_preference_a_moved_message_gets_a_new_id(graph, graph_app):
    graph.create_folder(DANA, "Projects")
    immutable = graph.deliver(DANA, make_email())
    with client(graph, graph_app) as http:
        url = f"/users/{DANA}/mailFolders/inbox/messages/delta"
        (before,) = delta_round(http, url)[0]
        graph.move(DANA, immutable, "Projects")
        projects = http.get(
            f"/users/{DANA}/mailFolders", params={"$filter": "displayName eq 'Projects'"}
        ).json()["value"][0]["id"]
        (after,) = delta_round(http, f"/users/{DANA}/mailFolders/{projects}/messages/delta")[0]
    assert before["id"] != after["id"] and immutable not in (before["id"], after["id"])


def test_a_forgotten_delta_token_is_410_gone_sync_state_not_found(graph, graph_app):
    graph.deliver(DANA, make_email())
    with client(graph, graph_app) as http:
        _, link, _ = delta_round(http, f"/users/{DANA}/mailFolders/inbox/messages/delta")
        graph.forget_delta_tokens()
        response = http.get(link)
    assert response.status_code == 410
    assert response.json()["error"]["code"] == "SyncStateNotFound"


def test_throttling_answers_429_with_retry_after_then_serves_again(graph, graph_app):
    with client(graph, graph_app) as http:
        graph.throttle(2, retry_after=7)
        first = http.get(f"/users/{DANA}/mailFolders/inbox")
        second = http.get(f"/users/{DANA}/mailFolders/inbox")
        third = http.get(f"/users/{DANA}/mailFolders/inbox")
    assert [first.status_code, second.status_code, third.status_code] == [429, 429, 200]
    assert first.headers["Retry-After"] == "7"


def test_value_returns_the_mime_of_a_message_by_its_immutable_id(graph, graph_app):
    raw = make_email(subject="Quote")
    message_id = graph.deliver(DANA, raw)
    with client(graph, graph_app) as http:
        response = http.get(f"/users/{DANA}/messages/{message_id}/$value")
    assert response.status_code == 200 and response.content == raw


def test_send_mail_takes_base64_mime_and_keeps_it_in_sent_items(graph, graph_app):
    raw = make_email(sender=DANA, to="maria@contoso.example", message_id="<out@northwind>")
    with client(graph, graph_app) as http:
        response = http.post(
            f"/users/{DANA}/sendMail",
            content=base64.b64encode(raw),
            headers={"Content-Type": "text/plain"},
        )
        sent_items = http.get(f"/users/{DANA}/mailFolders/sentitems").json()
    assert response.status_code == 202
    assert graph.sent(DANA) == [raw] and sent_items["totalItemCount"] == 1


def test_an_expired_token_is_401_invalid_authentication_token(graph, graph_app):
    with client(graph, graph_app) as http:
        graph.expire_tokens()
        response = http.get(f"/users/{DANA}/mailFolders/inbox")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_missing_permissions_are_403_error_access_denied(graph):
    app = graph.add_app(secret=SECRET, roles=["Mail.Send"])
    with client(graph, app) as http:
        read = http.get(f"/users/{DANA}/mailFolders/inbox/messages/delta")
    assert read.status_code == 403 and read.json()["error"]["code"] == "ErrorAccessDenied"
    graph.set_permissions(app.client_id, ["Mail.ReadWrite"])
    with client(graph, app) as http:
        send = http.post(
            f"/users/{DANA}/sendMail", content=b"eA==", headers={"Content-Type": "text/plain"}
        )
    assert send.status_code == 403


def test_an_application_access_policy_refuses_a_mailbox_403(graph, graph_app):
    graph.block_mailbox(DANA)
    with client(graph, graph_app) as http:
        response = http.get(f"/users/{DANA}/mailFolders/inbox")
    assert response.status_code == 403
    assert "AccessPolicy" in response.json()["error"]["message"]


def test_unknown_and_unreachable_mailboxes_are_404(graph, graph_app):
    graph.add_mailbox("onprem@northwind.example", rest_enabled=False)
    with client(graph, graph_app) as http:
        unknown = http.get("/users/nobody@northwind.example/mailFolders/inbox")
        onprem = http.get("/users/onprem@northwind.example/mailFolders/inbox")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "ErrorInvalidUser")
    assert onprem.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"


def test_patching_categories_replaces_them_and_delta_reports_the_update(graph, graph_app):
    # PATCH replaces the whole categories collection; the next delta round lists the
    # message again, with its categories when $select asks for them.
    message = graph.deliver(DANA, make_email(message_id="<c@contoso.example>"))
    with client(graph, graph_app, Prefer='IdType="ImmutableId"') as http:
        url = f"/users/{DANA}/mailFolders/inbox/messages/delta"
        _, link, _ = delta_round(http, url, **{"$select": "categories"})
        patched = http.patch(f"/users/{DANA}/messages/{message}", json={"categories": ["Red"]})
        assert patched.status_code == 200 and patched.json()["categories"] == ["Red"]
        graph.set_categories(DANA, message, ["Red", "Tracked to Tidings"])
        got = http.get(f"/users/{DANA}/messages/{message}", params={"$select": "categories"})
        assert got.json() == {"id": message, "categories": ["Red", "Tracked to Tidings"]}
        items, _, _ = delta_round(http, link)
        assert [(i["id"], i["categories"]) for i in items] == [
            (message, ["Red", "Tracked to Tidings"])
        ]
        refused = http.patch(f"/users/{DANA}/messages/{message}", json={"subject": "x"})
        assert refused.status_code == 400
