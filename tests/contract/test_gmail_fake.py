"""The Gmail fake held to Google's contract by Google's own client libraries: the Gmail
service built by google-api-python-client from its bundled discovery document,
google-auth's credentials getting their tokens from the fake's token endpoint, and
google-auth verifying the tokens of the fake's Pub/Sub pushes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import google.auth.transport.requests
import google_auth_httplib2
import httplib2
import pytest
import requests
from google.auth.credentials import Credentials
from google.auth.exceptions import RefreshError
from google.oauth2 import credentials as user_credentials
from google.oauth2 import id_token, service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.builders import make_email
from tests.contract.gmail_fake import FakeGmailServer
from tests.contract.gmail_fake_api import MODIFY
from tests.contract.https_app import https_app

DANA = "dana@northwind.example"
CLIENT_ID = "104857600000000000001"


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGmailServer]:
    with FakeGmailServer(tmp_path) as server:
        server.add_mailbox(DANA)
        yield server


def gmail(fake: FakeGmailServer, credentials: Credentials) -> Any:
    """The Gmail service as Google's library builds it, pointed at the fake."""
    http = google_auth_httplib2.AuthorizedHttp(
        credentials, http=httplib2.Http(ca_certs=str(fake.ca_file))
    )
    return build(
        "gmail",
        "v1",
        http=http,
        static_discovery=True,
        client_options={"api_endpoint": fake.url},
        cache_discovery=False,
    )


def delegated(fake: FakeGmailServer, scopes: list[str], subject: str = DANA) -> Credentials:
    key = fake.auth.create_service_account(CLIENT_ID)
    account = service_account.Credentials.from_service_account_info(key, scopes=scopes)
    return account.with_subject(subject)


def dana_service(fake: FakeGmailServer) -> Any:
    fake.grant_delegation(CLIENT_ID, [MODIFY])
    return gmail(fake, delegated(fake, [MODIFY]))


def _trusting(fake: FakeGmailServer) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # a CA bundle named in the environment would replace the fake's
    session.verify = str(fake.ca_file)
    return session


def raw_of(message: dict[str, Any]) -> bytes:
    return base64.urlsafe_b64decode(message["raw"])


def test_a_delegated_service_account_reads_the_profile_and_labels(
    fake: FakeGmailServer,
) -> None:
    # The JWT-bearer grant with sub = the mailbox gives a token that reads that mailbox.
    fake.create_label(DANA, "Projects/Contoso")
    users = dana_service(fake).users()
    profile = users.getProfile(userId="me").execute()
    labels = users.labels().list(userId=DANA).execute()["labels"]
    assert profile["emailAddress"] == DANA
    assert int(profile["historyId"]) > 0
    assert {"id": "INBOX", "name": "INBOX", "type": "system"} in labels
    assert {
        "id": "Label_1",
        "name": "Projects/Contoso",
        "type": "user",
        "labelListVisibility": "labelShow",
        "messageListVisibility": "show",
    } in labels


def test_messages_list_filters_by_label_and_after_and_pages(fake: FakeGmailServer) -> None:
    # Newest first; a label filter, `after:` in seconds, and a nextPageToken to go on.
    old = datetime(2026, 1, 1, tzinfo=UTC)
    fake.deliver(DANA, make_email(message_id="<old@x>"), received=old)
    ids = [fake.deliver(DANA, make_email(message_id=f"<m{i}@x>")) for i in range(3)]
    fake.deliver(DANA, make_email(message_id="<other@x>"), labels=("Projects",))
    messages = dana_service(fake).users().messages()
    query = {"userId": "me", "labelIds": ["INBOX"], "q": f"after:{int(old.timestamp())}"}
    first = messages.list(maxResults=2, **query).execute()
    second = messages.list(maxResults=2, pageToken=first["nextPageToken"], **query).execute()
    listed = [m["id"] for m in first["messages"] + second["messages"]]
    assert listed == list(reversed(ids))
    assert "nextPageToken" not in second


def test_messages_get_raw_is_base64url_of_the_delivered_bytes(fake: FakeGmailServer) -> None:
    raw = make_email(subject="Ümlaut ~~~ ???", body="? > < ~\n" * 50)
    message_id = fake.deliver(DANA, raw)
    message = dana_service(fake).users().messages().get(userId="me", id=message_id, format="raw")
    got = message.execute()
    assert raw_of(got) == raw
    assert got["labelIds"] == ["INBOX", "UNREAD"]
    assert int(got["internalDate"]) > 0


def test_history_lists_arrivals_and_moves_into_a_label_after_a_history_id(
    fake: FakeGmailServer,
) -> None:
    # messageAdded and labelAdded records after startHistoryId, filtered by labelId, paged.
    users = dana_service(fake).users()
    start = users.getProfile(userId="me").execute()["historyId"]
    arrived = fake.deliver(DANA, make_email(message_id="<a@x>"))
    moved = fake.deliver(DANA, make_email(message_id="<b@x>"), labels=("Archive",))
    fake.relabel(DANA, moved, add=("INBOX",), remove=("Archive",))
    fake.deliver(DANA, make_email(message_id="<c@x>"), labels=("Archive",))
    query = {
        "userId": "me",
        "startHistoryId": start,
        "labelId": "INBOX",
        "historyTypes": ["messageAdded", "labelAdded"],
    }
    first = users.history().list(maxResults=1, **query).execute()
    second = users.history().list(pageToken=first["nextPageToken"], **query).execute()
    records = first["history"] + second["history"]
    assert [r["messagesAdded"][0]["message"]["id"] for r in records[:1]] == [arrived]
    assert records[1]["labelsAdded"][0]["labelIds"] == ["INBOX"]
    assert records[1]["labelsAdded"][0]["message"]["id"] == moved
    assert len(records) == 2
    assert int(second["historyId"]) > int(records[-1]["id"])


def test_history_answers_404_for_a_forgotten_history_id(fake: FakeGmailServer) -> None:
    users = dana_service(fake).users()
    start = users.getProfile(userId="me").execute()["historyId"]
    fake.deliver(DANA, make_email())
    fake.forget_history()
    with pytest.raises(HttpError) as caught:
        users.history().list(userId="me", startHistoryId=start).execute()
    assert caught.value.resp.status == 404
    assert caught.value.error_details[0]["reason"] == "notFound"


def test_send_takes_the_raw_message_as_it_is(fake: FakeGmailServer) -> None:
    raw = make_email(sender=DANA, to="maria@contoso.example", message_id="<out@northwind>")
    body = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
    sent = dana_service(fake).users().messages().send(userId="me", body=body).execute()
    assert sent["labelIds"] == ["SENT"]
    assert fake.sent(DANA) == [raw]


def test_a_client_id_without_delegation_gets_unauthorized_client(
    fake: FakeGmailServer,
) -> None:
    # The Admin console granted the client id no Gmail scope: the token endpoint refuses.
    fake.grant_delegation(CLIENT_ID, ["https://www.googleapis.com/auth/calendar"])
    with pytest.raises(RefreshError) as caught:
        gmail(fake, delegated(fake, [MODIFY])).users().getProfile(userId="me").execute()
    assert caught.value.args[1]["error"] == "unauthorized_client"


def test_a_token_without_a_gmail_read_scope_gets_insufficient_permissions(
    fake: FakeGmailServer,
) -> None:
    send_only = "https://www.googleapis.com/auth/gmail.send"
    fake.grant_delegation(CLIENT_ID, [send_only])
    with pytest.raises(HttpError) as caught:
        gmail(fake, delegated(fake, [send_only])).users().getProfile(userId="me").execute()
    assert caught.value.resp.status == 403
    assert caught.value.error_details[0]["reason"] == "insufficientPermissions"


def test_a_user_without_gmail_gets_failed_precondition(fake: FakeGmailServer) -> None:
    fake.add_mailbox("printer@northwind.example", gmail=False)
    fake.grant_delegation(CLIENT_ID, [MODIFY])
    service = gmail(fake, delegated(fake, [MODIFY], "printer@northwind.example"))
    with pytest.raises(HttpError) as caught:
        service.users().getProfile(userId="me").execute()
    assert caught.value.resp.status == 400
    assert caught.value.error_details[0]["reason"] == "failedPrecondition"


def test_throttled_requests_get_429_rate_limit_exceeded_with_retry_after(
    fake: FakeGmailServer,
) -> None:
    users = dana_service(fake).users()
    fake.throttle(1, retry_after=7)
    with pytest.raises(HttpError) as caught:
        users.getProfile(userId="me").execute()
    assert caught.value.resp.status == 429
    assert caught.value.resp["retry-after"] == "7"
    assert caught.value.error_details[0]["reason"] == "rateLimitExceeded"
    assert users.getProfile(userId="me").execute()["emailAddress"] == DANA


def test_expired_tokens_are_refused_and_the_library_fetches_a_new_one(
    fake: FakeGmailServer,
) -> None:
    users = dana_service(fake).users()
    users.getProfile(userId="me").execute()
    fake.expire_tokens()
    assert users.getProfile(userId="me").execute()["emailAddress"] == DANA
    assert fake.requests.count("GET /gmail/v1/users/me/profile") == 3  # ok, 401, ok


def test_a_users_refresh_token_works_until_it_is_revoked(fake: FakeGmailServer) -> None:
    fake.auth.add_client("web-client", "web-secret")
    refresh = fake.auth.consent("web-client", DANA, [MODIFY])

    def profile() -> Any:
        credentials = user_credentials.Credentials(
            None,
            refresh_token=refresh,
            client_id="web-client",
            client_secret="web-secret",
            token_uri=fake.token_url,
        )
        return gmail(fake, credentials).users().getProfile(userId="me").execute()

    assert profile()["emailAddress"] == DANA
    fake.auth.revoke_refresh_token(refresh)
    with pytest.raises(RefreshError) as caught:
        profile()
    assert caught.value.args[1]["error"] == "invalid_grant"


def test_watch_publishes_each_change_of_the_mailbox_to_its_topic(fake: FakeGmailServer) -> None:
    # users.watch names a Pub/Sub topic Gmail may publish to; each change is then pushed as
    # emailAddress and historyId, for 7 days.
    topic = "projects/tidings-test/topics/gmail"
    fake.create_topic(topic)
    heard: list[tuple[str, str]] = []
    fake.push_to(lambda address, history_id: heard.append((address, history_id)))
    users = dana_service(fake).users()
    watch = users.watch(userId="me", body={"topicName": topic}).execute()
    lasts = int(watch["expiration"]) / 1000 - datetime.now(UTC).timestamp()
    assert 6.9 * 86400 < lasts <= 7 * 86400
    fake.deliver(DANA, make_email())
    latest = users.getProfile(userId="me").execute()["historyId"]
    assert heard == [(DANA, latest)]
    assert int(latest) > int(watch["historyId"])


def test_watch_on_a_topic_gmail_may_not_publish_to_is_forbidden(fake: FakeGmailServer) -> None:
    users = dana_service(fake).users()
    with pytest.raises(HttpError) as caught:
        users.watch(userId="me", body={"topicName": "projects/p/topics/none"}).execute()
    assert caught.value.resp.status == 403


def test_a_push_subscription_posts_each_change_with_a_token_google_auth_verifies(
    fake: FakeGmailServer,
) -> None:
    # Pub/Sub's push: the envelope wraps base64 data of emailAddress and historyId, and the
    # bearer token verifies with google-auth against the certificates the fake serves.
    topic = "projects/tidings-test/topics/gmail"
    fake.create_topic(topic)
    heard: list[tuple[str, bytes]] = []

    async def endpoint(request: Request) -> Response:
        heard.append((request.headers["authorization"], await request.body()))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/push", endpoint, methods=["POST"])])
    with https_app(app, fake.certificates) as base:
        subscription = fake.subscribe_push(topic, f"{base}/push", "push@tidings-test.example")
        users = dana_service(fake).users()
        users.watch(userId="me", body={"topicName": topic}).execute()
        fake.deliver(DANA, make_email())
        [delivery] = fake.pubsub.wait_for_deliveries(1)
    assert delivery.status == 204
    [(authorization, body)] = heard
    envelope = json.loads(body)
    data = json.loads(base64.b64decode(envelope["message"]["data"]))
    latest = users.getProfile(userId="me").execute()["historyId"]
    assert data == {"emailAddress": DANA, "historyId": latest}
    assert envelope["subscription"] == subscription.name
    assert envelope["message"]["messageId"] == envelope["message"]["message_id"]
    claims = id_token.verify_token(
        authorization.removeprefix("Bearer "),
        google.auth.transport.requests.Request(session=_trusting(fake)),
        audience=f"{base}/push",  # no audience set: the endpoint's URL
        certs_url=fake.certs_url,
    )
    assert (claims["iss"], claims["email"], claims["email_verified"]) == (
        "https://accounts.google.com",
        "push@tidings-test.example",
        True,
    )


def test_a_created_label_is_added_with_modify_and_history_reports_it(
    fake: FakeGmailServer,
) -> None:
    # labels.create makes a user label (409 for a name taken); messages.modify adds it; the
    # labelAdded and labelRemoved records carry the message's labels after the change.
    users = dana_service(fake).users()
    message = fake.deliver(DANA, make_email(message_id="<t@x>"))
    start = users.getProfile(userId="me").execute()["historyId"]
    label = users.labels().create(userId="me", body={"name": "Tracked to Tidings"}).execute()
    with pytest.raises(HttpError) as taken:
        users.labels().create(userId="me", body={"name": "tracked to tidings"}).execute()
    assert taken.value.resp.status == 409
    body = {"addLabelIds": [label["id"]]}
    modified = users.messages().modify(userId="me", id=message, body=body).execute()
    assert label["id"] in modified["labelIds"]
    fake.relabel(DANA, message, remove=("Tracked to Tidings",))
    query = {
        "userId": "me",
        "startHistoryId": start,
        "labelId": "INBOX",
        "historyTypes": ["labelAdded", "labelRemoved"],
    }
    records = users.history().list(**query).execute()["history"]
    assert records[0]["labelsAdded"][0]["labelIds"] == [label["id"]]
    assert label["id"] in records[0]["labelsAdded"][0]["message"]["labelIds"]
    assert records[1]["labelsRemoved"][0]["labelIds"] == [label["id"]]
    assert label["id"] not in records[1]["labelsRemoved"][0]["message"]["labelIds"]
