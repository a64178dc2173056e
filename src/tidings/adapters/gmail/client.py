"""The Gmail API over httpx for one mailbox: bearer tokens, and Google's errors translated
into Tidings' (https://developers.google.com/workspace/gmail/api/guides/handle-errors).

Requests go to ``users/me``: with domain-wide delegation "me" is the token's subject, and
with a user's consent it is that user.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from tidings.adapters.gmail.auth import GoogleTokens, certificate_error
from tidings.adapters.gmail.contract import GMAIL_URL, SCOPE, ApiError, parse_error
from tidings.adapters.tls import tls_context
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError, ServerAnsweredError, ThrottledError
from tidings.domain.server_profile import ServerProfile

#: Rate-limit reasons Gmail sends with 403 as well as 429 (the "Resolve errors" guide).
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})
#: Without Retry-After, the guide asks for exponential back-off; start at a minute.
DEFAULT_RETRY_AFTER = 60.0
#: Statuses that say the service, not the request, is in trouble (a gateway, a timeout).
_UNAVAILABLE = (408, 502, 503, 504)


class NotFoundError(MailServerError):
    """Gmail answered 404: the caller decides what that means (an expired history id, a
    message deleted since it was listed)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=False)


class BadRequestError(ServerAnsweredError):
    """Gmail answered 400 to a request it could not take (an unknown page token, say)."""


class GmailClient:
    """Authorized JSON requests to one mailbox's Gmail API."""

    def __init__(
        self,
        profile: ServerProfile,
        credential: Credential | None,
        address: str,
        tokens: GoogleTokens,
    ) -> None:
        self._profile = profile
        self._credential = credential
        self.address = address
        self._tokens = tokens
        base = profile.options.get("gmail_url") or GMAIL_URL
        self._base = f"{base.rstrip('/')}/gmail/v1/users/me"
        self._http = httpx.AsyncClient(
            verify=tls_context(profile), timeout=profile.connection_timeout_seconds
        )

    async def token(self) -> str:
        return await self._tokens.token(self._profile, self._credential, self.address)

    async def get(self, path: str, params: Any = None) -> dict[str, Any]:
        return await self.request("GET", path, params=params)

    async def request(
        self, method: str, path: str, *, params: Any = None, json: Any = None
    ) -> dict[str, Any]:
        """One call; a refused token is fetched again once, as the guide asks for 401."""
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self.token()}"}
            response = await self.send(method, path, params=params, json=json, headers=headers)
            if response.status_code == 401 and attempt == 1 and self._credential is not None:
                self._tokens.forget(self._profile, self._credential, self.address)
                continue
            return self.checked(response)
        raise AssertionError("unreachable")  # pragma: no cover

    async def send(
        self, method: str, path: str, *, params: Any, json: Any, headers: dict[str, str]
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method, f"{self._base}/{path}", params=params, json=json, headers=headers
            )
        except httpx.HTTPError as error:
            raise unreachable(error) from error

    def checked(self, response: httpx.Response) -> dict[str, Any]:
        if response.is_success:
            body = response.json()
            return body if isinstance(body, dict) else {}
        try:
            body = response.json()
        except ValueError:
            body = response.text
        raise translate(parse_error(response.status_code, body), response.headers, self.address)

    async def close(self) -> None:
        await self._http.aclose()


def translate(error: ApiError, headers: httpx.Headers, address: str) -> MailServerError:
    """A Gmail error as Tidings says it: what to wait for, or what a person must fix."""
    said = f"{error.status} {error.reason}: {error.message}".strip()
    if error.status == 429 or (error.status == 403 and error.reason in RATE_LIMIT_REASONS):
        return ThrottledError(f"Gmail asks to slow down ({said})", retry_after(headers))
    if error.status == 401:
        return MailServerError(
            f"Google refused a fresh access token for {address} ({said})", permanent=True
        )
    if error.status == 403 and error.reason == "insufficientPermissions":
        return MailServerError(
            f"the access token for {address} lacks the scope {SCOPE}: grant it to the client "
            "id in the Admin console (or have the user consent again)",
            permanent=True,
        )
    if error.status == 400 and error.reason == "failedPrecondition":
        return MailServerError(
            f"{address} cannot use the Gmail API ({error.message}): check that it is a Google "
            "Workspace user with Gmail turned on, and that the profile uses domain-wide "
            "delegation for it",
            permanent=True,
        )
    if error.status == 403:
        return MailServerError(f"Gmail refused access to {address} ({said})", permanent=True)
    if error.status == 404:
        return NotFoundError(f"Gmail found nothing there ({said})")
    if error.status == 400:
        return BadRequestError(f"Gmail refused the request ({said})")
    if error.status in _UNAVAILABLE:
        return MailServerError(f"Gmail failed ({said})", permanent=False)
    return ServerAnsweredError(f"Gmail failed ({said})")


def retry_after(headers: httpx.Headers) -> float:
    """Retry-After in seconds or as an HTTP date (RFC 9110 §10.2.3)."""
    value = headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def unreachable(error: httpx.HTTPError) -> MailServerError:
    cause = certificate_error(error)
    if cause is not None:
        return MailServerError(
            f"the Gmail API presented a certificate Tidings does not trust: {cause}",
            permanent=True,
        )
    return MailServerError(f"the Gmail API did not answer: {error!r}", permanent=False)
