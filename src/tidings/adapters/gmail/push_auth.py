"""Who may ring Gmail's doorbell: the OIDC token of a Pub/Sub push subscription, checked as
Google documents (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions).

Pub/Sub signs a JWT for the subscription's service account and sends it as
``Authorization: Bearer <JWT>``. It is genuine when google-auth verifies its signature
against Google's published certificates and its ``aud`` is the audience the subscription
was given, its issuer is Google's, and its ``email`` is that service account, verified.
The audience and the service account are the profile's ``push_audience`` and
``push_service_account``; the certificates' address is ``push_certs_url``.

Google changes its keys now and then: certificates are kept as long as their
``Cache-Control: max-age`` says, and fetched again early when a token fails with them (it
may name a key published since), but at most once a minute, so forged tokens cannot make
Tidings hammer Google.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from google.auth import transport
from google.oauth2 import id_token
from typing_extensions import override

from tidings.adapters.gmail.auth import HttpxRequest
from tidings.adapters.tls import tls_context
from tidings.domain.server_profile import ServerProfile

#: Google's certificates for the ID tokens it signs, Pub/Sub's included (x509 by key id).
CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
#: The ``iss`` of Google's ID tokens (https://developers.google.com/identity/openid-connect/openid-connect).
ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
#: Certificates without a max-age are kept this long.
DEFAULT_MAX_AGE = 300.0
#: Certificates are fetched again early at most this often (a token of a key not seen yet).
REFETCH_AFTER = 60.0
#: Clocks of Google and of Tidings may differ a little: a token is not refused for that.
CLOCK_SKEW_SECONDS = 30
_MAX_AGE = re.compile(r"max-age=(\d+)")


@dataclass(frozen=True)
class PushCheck:
    """What a genuine push for a profile's mailboxes carries, and where Google's keys are."""

    audience: str
    service_account: str
    certs_url: str
    #: The certificates are fetched with the profile's TLS settings (told apart by these).
    ca_file: str
    verify_certificates: bool
    profile: ServerProfile = field(compare=False, hash=False, repr=False)

    @classmethod
    def of(cls, profile: ServerProfile) -> PushCheck | None:
        """The profile's check; None while it lacks the audience or the service account
        (then no push can be verified for it, and its folders poll)."""
        audience = profile.options.get("push_audience", "").strip()
        account = profile.options.get("push_service_account", "").strip()
        if not audience or not account:
            return None
        return cls(
            audience,
            account,
            profile.options.get("push_certs_url") or CERTS_URL,
            profile.options.get("ca_file", ""),
            profile.verify_certificates,
            profile,
        )

    def request(self) -> HttpxRequest:
        return HttpxRequest(tls_context(self.profile), self.profile.connection_timeout_seconds)


@dataclass
class _Cached:
    response: Any
    fetched_at: float
    max_age: float


class _CachingRequest(transport.Request):
    """google-auth's transport for the certificates, answering from the cache while its copy
    is fresh (``fresh``: fetch again anyway)."""

    def __init__(self, certs: PushCertificates, check: PushCheck, fresh: bool) -> None:
        self._certs, self._check, self._fresh = certs, check, fresh

    @override
    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Any = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        return self._certs.fetch(self._check, url, fresh=self._fresh)


class PushCertificates:
    """Google's certificates per address, and the verification of push tokens with them."""

    def __init__(self, refetch_after: float = REFETCH_AFTER) -> None:
        self._lock = threading.Lock()
        self._cache: dict[str, _Cached] = {}
        #: Seconds before certificates may be fetched again early.
        self.refetch_after = refetch_after

    def refusal(self, token: str, check: PushCheck) -> str | None:
        """Why ``token`` is not the push subscription's OIDC token that ``check`` expects;
        None when it is."""
        claims = self._claims(token, check, fresh=False)
        if isinstance(claims, str) and self._may_refetch(check.certs_url):
            claims = self._claims(token, check, fresh=True)
        if isinstance(claims, str):
            return claims
        if claims.get("iss") not in ISSUERS or claims.get("email_verified") is not True:
            return "its token is not one Google issued"
        email = str(claims.get("email", ""))
        if email.casefold() != check.service_account.casefold():
            return f"its token is for {email!r}, not {check.service_account!r}"
        return None

    def _claims(self, token: str, check: PushCheck, *, fresh: bool) -> dict[str, Any] | str:
        """The verified claims, or why they could not be verified."""
        try:
            claims = id_token.verify_token(
                token,
                _CachingRequest(self, check, fresh),
                audience=check.audience,
                certs_url=check.certs_url,
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except Exception as error:  # whatever fails (signature, claims, keys), it is not genuine
            # Cut short and quoted: a malformed token's own text may be in the reason.
            return f"{type(error).__name__}: {str(error)[:200]!r}"
        return dict(claims)

    def _may_refetch(self, url: str) -> bool:
        with self._lock:
            cached = self._cache.get(url)
        return cached is not None and time.monotonic() - cached.fetched_at >= self.refetch_after

    def fetch(self, check: PushCheck, url: str, *, fresh: bool) -> Any:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(url)
        if cached is not None and not fresh and now - cached.fetched_at < cached.max_age:
            return cached.response
        response = check.request()(url, "GET")
        if response.status == 200:
            control = str(response.headers.get("cache-control", ""))
            found = _MAX_AGE.search(control)
            max_age = float(found.group(1)) if found else DEFAULT_MAX_AGE
            with self._lock:
                self._cache[url] = _Cached(response, now, max_age)
        return response
