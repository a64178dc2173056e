"""App-only access tokens for Microsoft Graph, from MSAL's ConfidentialClientApplication.

One MSAL app (and so one token cache) per app registration and secret, shared by every
mailbox of the profiles that use it: a token serves many mailboxes until it nears expiry.
MSAL is synchronous, so each call runs in a worker thread. Its HTTP goes through an httpx
client verifying TLS like every other Tidings connection (``tls_context``): requests, MSAL's
default, lets ``REQUESTS_CA_BUNDLE`` override a CA given in code.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
import threading
from typing import Any

import httpx
import msal
from typing_extensions import override

from tidings.adapters.graph.errors import discovery_error, token_error, transport_error
from tidings.adapters.graph.settings import GraphSettings
from tidings.adapters.tls import tls_context
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ServerProfile

_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL)


class GraphTokens:
    """Hands out access tokens for a profile's app registration, cached by MSAL. Graph asks
    for its own scope; EWS (Exchange Online) asks the same app for another resource's."""

    def __init__(self) -> None:
        self._apps: dict[tuple[str, ...], Any] = {}
        self._lock = threading.Lock()

    async def token(
        self, settings: GraphSettings, profile: ServerProfile, *, refresh: bool = False
    ) -> str:
        """A valid access token; ``refresh`` drops the cached one first (Graph said 401)."""
        return await asyncio.to_thread(self.fetch_token, settings, profile, refresh=refresh)

    def fetch_token(
        self,
        settings: GraphSettings,
        profile: ServerProfile,
        *,
        scope: str | None = None,
        refresh: bool = False,
    ) -> str:
        """``token``'s blocking twin, for callers already in a worker thread (exchangelib);
        ``scope`` defaults to Graph's."""
        app = self._app(settings, profile)
        if refresh:
            cache = app.token_cache
            # Listed first: removing while MSAL's search walks its dict would break the walk.
            for entry in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(entry)
        try:
            result = app.acquire_token_for_client(scopes=[scope or settings.scope])
        except httpx.HTTPError as error:
            raise transport_error(settings.authority_url, error) from error
        if "access_token" not in result:
            raise token_error(settings, result)
        return str(result["access_token"])

    def _app(self, settings: GraphSettings, profile: ServerProfile) -> Any:
        with self._lock:
            app = self._apps.get(settings.cache_key)
            if app is None:
                # Built under the lock: building reads the tenant's OpenID configuration once.
                app = self._apps[settings.cache_key] = _build(settings, profile)
            return app


class _MsalHttp(httpx.Client):
    """The requests-like client MSAL is given. MSAL posts a certificate's client assertion as
    bytes, which requests sends as they are but httpx would write as ``b'...'``."""

    @override
    def post(self, url: httpx.URL | str, *, data: Any = None, **options: Any) -> httpx.Response:
        if isinstance(data, dict):
            data = {k: v.decode() if isinstance(v, bytes) else v for k, v in data.items()}
        return super().post(url, data=data, **options)


def _build(settings: GraphSettings, profile: ServerProfile) -> Any:
    http = _MsalHttp(verify=tls_context(profile), timeout=settings.timeout_seconds)
    try:
        return msal.ConfidentialClientApplication(
            settings.client_id,
            client_credential=_client_credential(settings),
            authority=settings.authority,
            # The authority is the admin's (a national cloud, or a test fake): no lookup of
            # it in Microsoft's list of known hosts.
            validate_authority=False,
            instance_discovery=False,
            http_client=http,
            token_cache=msal.TokenCache(),
        )
    except httpx.HTTPError as error:
        http.close()
        raise transport_error(settings.authority_url, error) from error
    except ValueError as error:
        http.close()
        raise discovery_error(settings, error) from error


def _client_credential(settings: GraphSettings) -> str | dict[str, str]:
    if not settings.is_certificate:
        return settings.secret
    credential = {"private_key": settings.secret}
    certificate = _CERTIFICATE.search(settings.secret)
    if certificate is not None:
        # MSAL derives the SHA-256 thumbprint (x5t#S256) from the certificate itself.
        credential["public_certificate"] = certificate.group(0)
    elif settings.certificate_thumbprint:
        credential["thumbprint"] = settings.certificate_thumbprint
    else:
        raise MailServerError(
            "the certificate credential holds a private key but no certificate: paste the "
            "certificate (PEM) after the key, or set the certificate_thumbprint option",
            permanent=True,
        )
    return credential


def token_roles(access_token: str) -> frozenset[str]:
    """The application permissions an access token carries (its ``roles`` claim).

    Read without checking the signature: Tidings only reports what it was given; Graph is
    the one that checks the token.
    """
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error):
        return frozenset()
    roles = claims.get("roles") if isinstance(claims, dict) else None
    return frozenset(str(r) for r in roles) if isinstance(roles, list) else frozenset()
