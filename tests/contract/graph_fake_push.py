"""Change notifications of the Graph contract fake: subscriptions on a folder's messages,
the validation handshake with the notification URL, one notification per new message, and
lifecycle notifications.

Follows https://learn.microsoft.com/en-us/graph/api/subscription-post-subscriptions,
https://learn.microsoft.com/en-us/graph/api/subscription-update,
https://learn.microsoft.com/en-us/graph/api/subscription-delete and
https://learn.microsoft.com/en-us/graph/change-notifications-delivery-webhooks (validation:
POST ``{notificationUrl}?validationToken=…`` answered 200 with the token as text/plain within
10 seconds; notifications: POST of ``{"value": [...]}`` with the subscription's clientState,
answered 202). Messages allow at most 10,080 minutes of lifetime.

Lifecycle notifications follow
https://learn.microsoft.com/en-us/graph/change-notifications-lifecycle-events: a subscription
created with a ``lifecycleNotificationUrl`` (which may equal the ``notificationUrl``; both are
validated) receives ``{"value": [{"subscriptionId", "subscriptionExpirationDateTime",
"tenantId", "clientState", "lifecycleEvent"}]}`` there, with ``lifecycleEvent`` one of
``reauthorizationRequired``, ``subscriptionRemoved`` or ``missed``; one without it receives
none. After ``reauthorizationRequired`` change notifications pause until the app renews the
subscription (an update reauthorizes too); the page lets them go on "for a while" first, the
fake pauses at once, the strictest reading.
"""

from __future__ import annotations

import re
import ssl
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from tests.contract.graph_fake_store import iso, parse_iso

if TYPE_CHECKING:
    from tests.contract.graph_fake import FakeGraphServer

MAX_LIFETIME = timedelta(minutes=10080)
_RESOURCE = re.compile(r"/?users/([^/]+)/mailFolders\('([^']+)'\)/messages", re.IGNORECASE)


@dataclass
class Subscription:
    id: str
    address: str
    folder_id: str
    resource: str
    notification_url: str
    client_state: str
    expires: datetime
    change_types: tuple[str, ...]
    lifecycle_url: str | None = None
    #: A reauthorization was asked for and not yet given: change notifications wait.
    paused: bool = False

    def json(self, application_id: str) -> dict[str, object]:
        return {
            "id": self.id,
            "resource": self.resource,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": iso(self.expires),
            "applicationId": application_id,
        }


def create(
    fake: FakeGraphServer, body: dict[str, Any], app_id: str
) -> tuple[int, dict[str, object]]:
    """Validate the request and the notification URL; the status and body to answer."""
    match = _RESOURCE.fullmatch(str(body.get("resource", "")))
    change_types = tuple(str(body.get("changeType", "")).split(","))
    url = str(body.get("notificationUrl", ""))
    lifecycle_url = body.get("lifecycleNotificationUrl")
    try:
        expires = parse_iso(str(body.get("expirationDateTime", "")))
    except ValueError:
        return 400, _error("InvalidRequest", "expirationDateTime is not a valid DateTimeOffset.")
    if match is None or not set(change_types) <= {"created", "updated", "deleted"}:
        return 400, _error("InvalidRequest", "The resource or changeType is not supported.")
    if not url.startswith("https://") or not str(lifecycle_url or url).startswith("https://"):
        return 400, _error("InvalidRequest", "The notification URL must use HTTPS.")
    if not datetime.now(UTC) < expires <= datetime.now(UTC) + MAX_LIFETIME:
        return 400, _error(
            "InvalidRequest",
            "Subscription expiration can only be 10070 minutes in the future.",
        )
    with fake.lock:
        mailbox = fake.mailboxes.get(match.group(1).lower())
        folder = mailbox.folder(match.group(2)) if mailbox is not None else None
    if mailbox is None or folder is None:
        return 404, _error("ResourceNotFound", "The resource of the subscription was not found.")
    # Both URLs are validated, each in its own handshake, even when they are the same.
    urls = [url] if lifecycle_url is None else [url, str(lifecycle_url)]
    if not all(_validated(fake, each) for each in urls):
        return 400, _error(
            "InvalidRequest",
            "Subscription validation request failed. Notification endpoint must respond with "
            "200 OK to validation request.",
        )
    subscription = Subscription(
        str(uuid.uuid4()),
        mailbox.address,
        folder.id,
        str(body["resource"]),
        url,
        str(body.get("clientState", "")),
        expires,
        change_types,
        None if lifecycle_url is None else str(lifecycle_url),
    )
    with fake.lock:
        fake.subscriptions[subscription.id] = subscription
    return 201, subscription.json(app_id)


def renew(
    fake: FakeGraphServer, subscription_id: str, body: dict[str, Any], app_id: str
) -> tuple[int, dict[str, object]]:
    with fake.lock:
        subscription = fake.subscriptions.get(subscription_id)
        if subscription is None:
            return 404, _error("ResourceNotFound", "The object was not found.")
        expires = parse_iso(str(body.get("expirationDateTime", "")))
        if expires > datetime.now(UTC) + MAX_LIFETIME:
            return 400, _error(
                "InvalidRequest", "Subscription expiration can only be 10070 minutes in the future."
            )
        subscription.expires = expires
        subscription.paused = False  # an update reauthorizes as well
        return 200, subscription.json(app_id)


def notify(
    fake: FakeGraphServer,
    address: str,
    folder_id: str,
    message_id: str,
    change_type: str = "created",
) -> None:
    """POST a ``created`` (or ``updated``) notification to each live subscription on the
    folder that asked for that change type."""
    with fake.lock:
        targets = [
            s
            for s in fake.subscriptions.values()
            if s.address == address
            and s.folder_id == folder_id
            and change_type in s.change_types
            and s.expires > datetime.now(UTC)
            and not s.paused
        ]
    for subscription in targets:
        notification = {
            "subscriptionId": subscription.id,
            "subscriptionExpirationDateTime": iso(subscription.expires),
            "changeType": change_type,
            "resource": f"Users/{address}/Messages/{message_id}",
            "resourceData": {
                "@odata.type": "#Microsoft.Graph.Message",
                "@odata.id": f"Users/{address}/Messages/{message_id}",
                "id": message_id,
            },
            "clientState": subscription.client_state,
            "tenantId": fake.tenant_id,
        }
        try:
            with _client(fake) as http:
                response = http.post(subscription.notification_url, json={"value": [notification]})
            status = response.status_code
        except httpx.HTTPError:
            status = 0  # unreachable: Graph would retry for a while, then drop it
        fake.notifications.append((subscription.id, status))


def send_lifecycle(fake: FakeGraphServer, subscription: Subscription, event: str) -> None:
    """POST one lifecycle notification to the subscription's lifecycle URL, if it has one."""
    if subscription.lifecycle_url is None:
        return
    notification = {
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": iso(subscription.expires),
        "tenantId": fake.tenant_id,
        "clientState": subscription.client_state,
        "lifecycleEvent": event,
    }
    try:
        with _client(fake) as http:
            response = http.post(subscription.lifecycle_url, json={"value": [notification]})
        status = response.status_code
    except httpx.HTTPError:
        status = 0
    fake.lifecycle_notifications.append((subscription.id, event, status))


def _validated(fake: FakeGraphServer, url: str) -> bool:
    token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
    try:
        with _client(fake) as http:
            response = http.post(
                url, params={"validationToken": token}, headers={"Content-Type": "text/plain"}
            )
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and response.text == token


def _client(fake: FakeGraphServer) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=fake.ca_file), timeout=10)


def _error(code: str, message: str) -> dict[str, object]:
    return {
        "error": {"code": code, "message": message, "innerError": {"request-id": str(uuid.uuid4())}}
    }
