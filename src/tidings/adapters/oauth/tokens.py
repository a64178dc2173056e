"""Access tokens for XOAUTH2 sign-in, from each mailbox's refresh token (RFC 6749 §6).

One ``OAuthTokens`` per process keeps each mailbox's access token until a minute before it
expires, so that a thousand folders reconnecting do not ask the authorization server a
thousand times. The profile names the token endpoint (``token_url``), the client
(``client_id``) and optionally the ``scope``; the mailbox's credential carries its refresh
token (password) and the profile's client secret. The client authenticates in the request
body (RFC 6749 §2.3.1), which Microsoft's and Google's token endpoints both document.

Tokens and secrets are never logged, and never put in an error message.
"""

from __future__ import annotations

import hashlib
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tidings.adapters.tls import tls_context
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ServerProfile

if TYPE_CHECKING:
    import httpx

#: An access token is not used in its last minute: a login may take that long to reach it.
EXPIRY_MARGIN_SECONDS = 60.0

REVOKED = "the mailbox's refresh token was revoked or expired: sign in again"
BAD_CLIENT = "the client id or secret is wrong"
#: The token came from the authorization server, yet the mail server refused it.
XOAUTH2_REFUSED = (
    "the mail server refused the OAuth access token: check that the app registration has "
    "the IMAP and SMTP permissions (scope) and that the mailbox allows IMAP and SMTP sign-in"
)


@dataclass(frozen=True)
class _Cached:
    token: str
    usable_until: float


class OAuthTokens:
    """The refresh-token grant, with a cache of access tokens per mailbox."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cache: dict[tuple[str, ...], _Cached] = {}

    async def access_token(
        self, profile: ServerProfile, credential: Credential, *, fresh: bool = False
    ) -> str:
        """A usable access token; ``fresh`` asks the authorization server for a new one."""
        key = _cache_key(profile, credential)
        cached = self._cache.get(key)
        if not fresh and cached is not None and self._clock() < cached.usable_until:
            return cached.token
        self._cache.pop(key, None)
        token, lifetime = await _refresh(profile, credential)
        now = self._clock()
        # Tokens of mailboxes gone or given a new refresh token leave with their time.
        for stale in [k for k, c in self._cache.items() if c.usable_until <= now]:
            del self._cache[stale]
        if lifetime > EXPIRY_MARGIN_SECONDS:
            self._cache[key] = _Cached(token, now + lifetime - EXPIRY_MARGIN_SECONDS)
        return token

    async def sign_in(
        self,
        profile: ServerProfile,
        credential: Credential,
        attempt: Callable[[str], Awaitable[bool]],
        *,
        fresh: bool = False,
    ) -> bool:
        """Sign in with ``attempt(token)``; a cached token the server refuses (revoked early,
        or the clocks disagree) is replaced by a fresh one, once. ``fresh`` proves the
        refresh token itself still works (Test & Enable)."""
        key = _cache_key(profile, credential)
        was_cached = key in self._cache and not fresh
        if await attempt(await self.access_token(profile, credential, fresh=fresh)):
            return True
        if not was_cached:
            return False
        return await attempt(await self.access_token(profile, credential, fresh=True))


def _cache_key(profile: ServerProfile, credential: Credential) -> tuple[str, ...]:
    # A new refresh token or client secret must not reuse the old one's access token; the
    # key holds a digest of them, not the secrets themselves.
    secrets = f"{credential.password}\x00{credential.client_secret}".encode()
    return (
        profile.options.get("token_url", ""),
        profile.options.get("client_id", ""),
        profile.options.get("scope", ""),
        credential.username,
        hashlib.sha256(secrets).hexdigest(),
    )


async def _refresh(profile: ServerProfile, credential: Credential) -> tuple[str, float]:
    """POST the refresh-token grant; the access token and its lifetime in seconds."""
    url = profile.options.get("token_url", "")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": credential.password,
        "client_id": profile.options.get("client_id", ""),
    }
    if credential.client_secret:
        form["client_secret"] = credential.client_secret
    if profile.options.get("scope"):
        form["scope"] = profile.options["scope"]
    # Imported at the first refresh: httpx brings parts of rich and pygments (about 3 MB)
    # that a worker with no OAuth mailbox would hold for nothing.
    import httpx

    try:
        async with httpx.AsyncClient(
            verify=tls_context(profile), timeout=float(profile.connection_timeout_seconds)
        ) as client:
            response = await client.post(url, data=form, headers={"Accept": "application/json"})
    except httpx.HTTPError as error:
        raise _unreachable(url, error) from error
    return _parse_token_response(url, response)


def _parse_token_response(url: str, response: httpx.Response) -> tuple[str, float]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise MailServerError(
            f"the token endpoint {url} answered {response.status_code} without a JSON object",
            permanent=False,
        )
    if response.status_code == 200 and isinstance(body.get("access_token"), str):
        lifetime = body.get("expires_in")
        # RFC 6749 §5.1: expires_in is only RECOMMENDED; without it, the token is used once.
        seconds = float(lifetime) if isinstance(lifetime, int | float | str) else 0.0
        return body["access_token"], seconds
    raise _grant_error(url, response.status_code, str(body.get("error", "")))


def _grant_error(url: str, status: int, error: str) -> MailServerError:
    """RFC 6749 §5.2's error codes in an admin's words."""
    if error == "invalid_grant":
        return MailServerError(REVOKED, permanent=True)
    if error == "invalid_client":
        return MailServerError(BAD_CLIENT, permanent=True)
    if error == "invalid_scope":
        return MailServerError(
            "the authorization server refused the profile's scope: check the scope option",
            permanent=True,
        )
    if error == "unauthorized_client":
        return MailServerError(
            "the app registration may not use refresh tokens (unauthorized_client): "
            "check its settings with the authorization server",
            permanent=True,
        )
    detail = f" ({error})" if error else ""
    # Throttling and server trouble pass; any other refusal needs a person.
    transient = status == 429 or status >= 500
    return MailServerError(
        f"the token endpoint {url} refused the refresh{detail}: HTTP {status}",
        permanent=not transient,
    )


def _unreachable(url: str, error: httpx.HTTPError) -> MailServerError:
    """A certificate problem needs a person; anything else on the way may pass."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or str(cause)
            return MailServerError(
                f"certificate not trusted for the token endpoint {url}: {reason}", permanent=True
            )
        cause = cause.__cause__ or cause.__context__
    return MailServerError(f"cannot reach the token endpoint {url}: {error}", permanent=False)
