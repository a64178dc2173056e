"""Access tokens for the Gmail API, from google-auth, cached until near their expiry.

The sealed credential's password is one of Google's own JSON credential files:

- a service account key (``"type": "service_account"``), used with domain-wide delegation:
  google-auth signs an assertion whose subject is the mailbox
  (https://developers.google.com/identity/protocols/oauth2/service-account#delegatingauthority);
- an authorized-user file (``"type": "authorized_user"``: client id, client secret and the
  user's refresh token, https://google.aip.dev/auth/4113), from a user's consent.

google-auth is synchronous, so a refresh runs in a worker thread; its HTTP goes through
httpx with the profile's TLS context (a private CA in ``options["ca_file"]``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from google.auth import exceptions as google_errors
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from tidings.adapters.gmail.contract import SCOPE, TOKEN_URL
from tidings.adapters.tls import tls_context
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ServerProfile

NOT_A_KEY = (
    "the Gmail credential is neither a service account key nor an authorized-user file: "
    "paste the JSON key downloaded from Google Cloud (or the user's authorized-user JSON)"
)


@dataclass(frozen=True)
class _Response:
    status: int
    headers: Mapping[str, str]
    data: bytes


class HttpxRequest:
    """google-auth's transport interface (``google.auth.transport.Request``) over httpx."""

    def __init__(self, context: ssl.SSLContext, timeout: float) -> None:
        self._context = context
        self._timeout = timeout

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        try:
            with httpx.Client(verify=self._context, timeout=timeout or self._timeout) as client:
                answer = client.request(method, url, content=body, headers=headers)
        except httpx.HTTPError as error:
            raise google_errors.TransportError(error) from error  # type: ignore[no-untyped-call]
        return _Response(answer.status_code, answer.headers, answer.content)


class GoogleTokens:
    """Gives out access tokens per credential and mailbox, refreshing only near expiry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[threading.Lock, Any, str]] = {}

    async def token(
        self, profile: ServerProfile, credential: Credential | None, address: str
    ) -> str:
        """A valid access token for ``address``; raises ``MailServerError`` in an admin's words."""
        if credential is None:
            raise MailServerError(
                "no Gmail credential: give the profile a service account key, or the mailbox "
                "its authorized-user JSON",
                permanent=True,
            )
        return await asyncio.to_thread(self._token, profile, credential, address)

    def forget(self, profile: ServerProfile, credential: Credential, address: str) -> None:
        """Drop a token Google refused (401), so the next call fetches a new one."""
        with self._lock:
            self._entries.pop(_key(profile, credential, address), None)

    def _token(self, profile: ServerProfile, credential: Credential, address: str) -> str:
        key = _key(profile, credential, address)
        with self._lock:
            if key not in self._entries:
                self._entries[key] = (threading.Lock(), *_google(profile, credential, address))
            lock, google, client_id = self._entries[key]
        with lock:
            if not google.valid:
                request = HttpxRequest(tls_context(profile), profile.connection_timeout_seconds)
                try:
                    google.refresh(request)
                except google_errors.RefreshError as error:
                    raise _refused(error, client_id, address) from error
                except google_errors.TransportError as error:
                    raise _unreachable(error) from error
            return str(google.token)


def _key(profile: ServerProfile, credential: Credential, address: str) -> str:
    # The secret is part of the key so a new key or consent never reuses an old token;
    # hashed, so the cache holds no second copy of it.
    material = "\0".join(
        (credential.username, credential.password, _token_url(profile, {}), address)
    )
    return hashlib.sha256(material.encode()).hexdigest()


def _token_url(profile: ServerProfile, info: Mapping[str, Any]) -> str:
    return profile.options.get("token_url") or str(info.get("token_uri") or TOKEN_URL)


def _google(profile: ServerProfile, credential: Credential, address: str) -> tuple[Any, str]:
    """google-auth's credentials for the stored JSON, and the OAuth client id ("" for a
    user's consent) that an admin looks for in the Admin console."""
    try:
        info = json.loads(credential.password)
        kind = info.get("type") if isinstance(info, dict) else None
        if kind == "service_account":
            account = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                {**info, "token_uri": _token_url(profile, info)}, scopes=[SCOPE]
            )
            return account.with_subject(address), str(info.get("client_id", ""))
        if kind == "authorized_user":
            return user_credentials.Credentials(  # type: ignore[no-untyped-call]
                None,
                refresh_token=info["refresh_token"],
                client_id=info["client_id"],
                client_secret=info["client_secret"],
                token_uri=_token_url(profile, info),
                scopes=[SCOPE],
            ), ""
    except (ValueError, KeyError, TypeError) as error:
        raise MailServerError(NOT_A_KEY, permanent=True) from error
    raise MailServerError(NOT_A_KEY, permanent=True)


def _refused(error: google_errors.RefreshError, client_id: str, address: str) -> MailServerError:
    """Google's token endpoint said no (RFC 6749 §5.2 error codes), in what to fix."""
    answer = error.args[1] if len(error.args) > 1 and isinstance(error.args[1], dict) else {}
    code = str(answer.get("error", ""))
    description = str(answer.get("error_description", ""))
    delegated = bool(client_id)
    if code == "unauthorized_client":
        return MailServerError(
            f"domain-wide delegation not granted for scope {SCOPE}: add the client id "
            f"{client_id} in the Admin console (Security > API controls > Domain-wide "
            "delegation) with that scope",
            permanent=True,
        )
    if code == "invalid_grant" and delegated:
        return MailServerError(
            f"Google refused the service account for {address} ({description}): check that "
            "the address is a user of the Google Workspace domain and the key is not deleted",
            permanent=True,
        )
    if code == "invalid_grant":
        return MailServerError(
            f"the Google consent for {address} was revoked or has expired ({description}): "
            "the user must grant Tidings access again",
            permanent=True,
        )
    if code == "invalid_client":
        return MailServerError(
            "Google does not know the OAuth client id and secret (invalid_client): check the "
            "client in Google Cloud and the credential Tidings holds",
            permanent=True,
        )
    retryable = bool(getattr(error, "retryable", False))
    return MailServerError(
        f"Google's token endpoint refused: {error.args[0]}", permanent=not retryable
    )


def certificate_error(error: BaseException) -> ssl.SSLCertVerificationError | None:
    """The failed certificate check behind ``error``, if that is what it was."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, ssl.SSLCertVerificationError):
        cause = cause.__cause__ or cause.__context__
    return cause


def _unreachable(error: google_errors.TransportError) -> MailServerError:
    cause = certificate_error(error)
    if cause is not None:
        return MailServerError(
            f"Google's token endpoint presented a certificate Tidings does not trust: {cause}",
            permanent=True,
        )
    return MailServerError(f"Google's token endpoint did not answer: {error}", permanent=False)
