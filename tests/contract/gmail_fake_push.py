"""Cloud Pub/Sub push subscriptions as the Gmail contract fake plays them: what Gmail
publishes for a watched mailbox is POSTed to each push subscription's endpoint, with the OIDC
token Pub/Sub signs for the subscription's service account.

Written from Google's documentation:

- Gmail push notifications ("Receive notifications": the data is
  ``{"emailAddress", "historyId"}``, any 2xx status acknowledges):
  https://developers.google.com/workspace/gmail/api/guides/push
- Push subscriptions (the envelope ``{"message": {"data" (base64), "messageId",
  "message_id", "publishTime", "publish_time", "attributes"}, "subscription"}``; success
  codes 102, 200, 201, 202 and 204): https://cloud.google.com/pubsub/docs/push
- Authentication for push subscriptions (``Authorization: Bearer <JWT>``, RS256 with the
  ``kid`` of one of Google's keys; claims ``aud`` (the configured audience, else the
  endpoint), ``azp``, ``email`` (the service account), ``email_verified``, ``exp``, ``iat``,
  ``iss`` ``https://accounts.google.com`` and ``sub``):
  https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions
- Google's signing certificates, ``{key id: X.509 PEM}`` with ``Cache-Control: max-age``:
  https://www.googleapis.com/oauth2/v1/certs (the default of google-auth's ``verify_token``)

Pub/Sub retries a refused push for days; the fake records each attempt's status and does not
retry. Deliveries run in a thread of their own, as Pub/Sub's are independent of Gmail's
answer to the change.
"""

from __future__ import annotations

import base64
import itertools
import json
import queue
import secrets
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

ISSUER = "https://accounts.google.com"
TOKEN_LIFETIME = 3600
#: Google's certificates say how long they may be kept; a few hours is typical.
CERTS_MAX_AGE = 20000


@dataclass(frozen=True)
class PushSubscription:
    """A push subscription on a topic, authenticated as ``service_account``."""

    name: str
    topic: str
    endpoint: str
    audience: str
    service_account: str
    #: The service account's unique id (the token's ``sub`` and ``azp``).
    unique_id: str


@dataclass(frozen=True)
class Delivery:
    """One push attempt: the subscription, the address it was about, the endpoint's status
    (0 when it could not be reached)."""

    subscription: str
    address: str
    status: int


class _SigningKey:
    """One of Google's signing keys: the private key, its id, and its certificate."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = secrets.token_hex(20)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "securetoken.system")])
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.private.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=14))
            .sign(self.private, hashes.SHA256())
            .public_bytes(serialization.Encoding.PEM)
            .decode("ascii")
        )

    def sign(self, claims: dict[str, object]) -> str:
        header = {"alg": "RS256", "kid": self.key_id, "typ": "JWT"}
        signed = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = self.private.sign(signed.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return f"{signed}.{_b64(signature)}"


class FakePubSub:
    """Push subscriptions, Google's signing key, and every delivery made."""

    def __init__(self, ca_file: Path) -> None:
        self._ca_file = ca_file
        self._key = _SigningKey()
        self._retired: list[_SigningKey] = []
        self._lock = threading.Condition()
        self.subscriptions: list[PushSubscription] = []
        self.deliveries: list[Delivery] = []
        self._ids = itertools.count(2070443601311540)
        self._queue: queue.Queue[tuple[PushSubscription, dict[str, str]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._deliver_all, daemon=True)
        self._thread.start()

    def certs(self) -> dict[str, str]:
        """Google's certificates endpoint: each key id's X.509 certificate (the key in use
        and the one before it, as Google keeps the old key published for a while)."""
        with self._lock:
            keys = [self._key, *self._retired]
        return {key.key_id: key.certificate for key in keys}

    def rotate_key(self) -> None:
        """Google signs with a new key from now on, and publishes it."""
        with self._lock:
            self._retired = [self._key]
            self._key = _SigningKey()

    def subscribe(
        self, topic: str, endpoint: str, service_account: str, audience: str = ""
    ) -> PushSubscription:
        """A push subscription; without an audience, Pub/Sub uses the endpoint's URL."""
        with self._lock:
            subscription = PushSubscription(
                f"{topic.replace('/topics/', '/subscriptions/')}-push-{len(self.subscriptions)}",
                topic,
                endpoint,
                audience or endpoint,
                service_account,
                str(10**20 + len(self.subscriptions)),
            )
            self.subscriptions.append(subscription)
        return subscription

    def publish(self, topic: str, data: dict[str, str]) -> None:
        """Gmail published ``data`` on ``topic``: each of its push subscriptions gets it."""
        with self._lock:
            targets = [s for s in self.subscriptions if s.topic == topic]
        for subscription in targets:
            self._queue.put((subscription, data))

    def token(self, subscription: PushSubscription, *, audience: str | None = None) -> str:
        """The OIDC token Pub/Sub signs for ``subscription`` (another audience if asked)."""
        now = int(time.time())
        claims: dict[str, object] = {
            "aud": subscription.audience if audience is None else audience,
            "azp": subscription.unique_id,
            "email": subscription.service_account,
            "email_verified": True,
            "exp": now + TOKEN_LIFETIME,
            "iat": now,
            "iss": ISSUER,
            "sub": subscription.unique_id,
        }
        with self._lock:
            key = self._key
        return key.sign(claims)

    @staticmethod
    def forged_token(subscription: PushSubscription) -> str:
        """A token with every right claim, signed by a key Google never published."""
        now = int(time.time())
        claims: dict[str, object] = {
            "aud": subscription.audience,
            "email": subscription.service_account,
            "email_verified": True,
            "exp": now + TOKEN_LIFETIME,
            "iat": now,
            "iss": ISSUER,
            "sub": subscription.unique_id,
        }
        return _SigningKey().sign(claims)

    def envelope(self, subscription: PushSubscription, data: dict[str, str]) -> dict[str, object]:
        """The push request's body: the Pub/Sub message wrapped with its subscription."""
        message_id = str(next(self._ids))
        published = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return {
            "message": {
                "attributes": {},
                "data": base64.b64encode(json.dumps(data).encode()).decode("ascii"),
                "messageId": message_id,
                "message_id": message_id,
                "publishTime": published,
                "publish_time": published,
            },
            "subscription": subscription.name,
        }

    def wait_for_deliveries(self, count: int, timeout: float = 20) -> list[Delivery]:
        """Block until ``count`` pushes were attempted; all of them so far."""
        with self._lock:
            assert self._lock.wait_for(lambda: len(self.deliveries) >= count, timeout), (
                "Pub/Sub never pushed"
            )
            return list(self.deliveries)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _deliver_all(self) -> None:
        while (item := self._queue.get()) is not None:
            subscription, data = item
            status = self._post(subscription, data)
            with self._lock:
                self.deliveries.append(Delivery(subscription.name, data["emailAddress"], status))
                self._lock.notify_all()

    def _post(self, subscription: PushSubscription, data: dict[str, str]) -> int:
        headers = {"Authorization": f"Bearer {self.token(subscription)}"}
        context = ssl.create_default_context(cafile=self._ca_file)
        try:
            with httpx.Client(verify=context, timeout=10) as http:
                answer = http.post(
                    subscription.endpoint,
                    json=self.envelope(subscription, data),
                    headers=headers,
                )
        except httpx.HTTPError:
            return 0
        return answer.status_code


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
