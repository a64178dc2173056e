"""OAuth 2.0 for EWS: app-only access tokens (client credentials grant) for Exchange Online or
an Exchange hybrid, as "Authenticate an EWS application by using OAuth" describes: an app
registration with the ``full_access_as_app`` permission of Office 365 Exchange Online, the
scope ``https://outlook.office365.com/.default``, and every request impersonating the mailbox
(ExchangeImpersonation with an ``X-AnchorMailbox`` header, which exchangelib sends).

exchangelib's OAUTH2 auth type carries the token (``OAuth2Credentials``), but the token comes
from the MSAL cache Exchange Online's Graph adapter already keeps (``GraphTokens``): exchangelib
would fetch a token for every HTTP session it makes and forget it when the session closes, so
each folder, send and check would sign in again; MSAL keeps one per app registration for every
mailbox, and Tidings already words its sign-in failures (wrong secret, unknown tenant) for an
admin. exchangelib is never handed the secret, so it cannot fetch a token on its own.

Exchange answers an expired or revoked token with 401. The connection then asks the cache
again, and forces a new token if the cache still holds the refused one; a 401 for a token
fetched that way is a person's to fix (a permission, the tenant).

https://learn.microsoft.com/en-us/exchange/client-developer/exchange-web-services/how-to-authenticate-an-ews-application-by-using-oauth
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from exchangelib import OAuth2Credentials
from exchangelib.protocol import FailFast
from oauthlib.oauth2 import TokenExpiredError  # type: ignore[import-untyped]
from typing_extensions import override

from tidings.adapters.graph.settings import GraphSettings, graph_settings
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import ServerProfile

# requests-oauthlib logs each request's access token at DEBUG.
logging.getLogger("requests_oauthlib").setLevel(logging.INFO)

#: App-only tokens for EWS ask for Exchange Online's statically granted permissions.
EWS_SCOPE = "https://outlook.office365.com/.default"


class BearerTokens:
    """The access tokens one mailbox's EWS connection sends, from the shared cache."""

    def __init__(
        self, tokens: GraphTokens, settings: GraphSettings, profile: ServerProfile
    ) -> None:
        self._tokens = tokens
        self._settings = settings
        self._profile = profile
        self._lock = threading.Lock()
        self._refused: str | None = None
        self._forced: str | None = None

    def next_token(self) -> dict[str, str]:
        """A token for a new HTTP session, as exchangelib takes it (blocking)."""
        token = self._fetch(refresh=False)
        with self._lock:
            refused, self._refused = self._refused, None
        if token == refused:
            token = self._fetch(refresh=True)
            with self._lock:
                self._forced = token
        return {"access_token": token, "token_type": "Bearer"}

    def accepted(self, token: str) -> None:
        """Exchange answered ``token``: when it ages out, asking again helps."""
        with self._lock:
            if token == self._forced:
                self._forced = None

    def refused(self, token: str) -> bool:
        """Exchange answered ``token`` with 401: True when another token may pass."""
        with self._lock:
            if token == self._forced:
                return False
            self._refused = token
            return True

    def _fetch(self, *, refresh: bool) -> str:
        return self._tokens.fetch_token(
            self._settings, self._profile, scope=EWS_SCOPE, refresh=refresh
        )


class RefreshOn401(FailFast):  # type: ignore[misc]
    """exchangelib's fail-fast policy, except that a refused token is replaced once: the
    ``TokenExpiredError`` makes exchangelib retire the session and send the request again on
    a new one, which ``ProfileProtocol`` gives the next token."""

    def __init__(self, bearer: BearerTokens) -> None:
        super().__init__()
        self._bearer = bearer

    @override
    def raise_response_errors(self, response: Any) -> None:
        sent = str(response.request.headers.get("Authorization", "")).removeprefix("Bearer ")
        if response.status_code != 401:
            self._bearer.accepted(sent)
            super().raise_response_errors(response)
            return
        if self._bearer.refused(sent):
            raise TokenExpiredError
        diagnostics = response.headers.get("x-ms-diagnostics", "")
        raise MailServerError(
            "Exchange refused the app's access token, even a fresh one: grant the app "
            "registration the full_access_as_app application permission of Office 365 "
            "Exchange Online with admin consent, and check that the tenant id is the "
            "mailbox's tenant" + (f" ({diagnostics})" if diagnostics else ""),
            permanent=True,
        )


def oauth_login(
    tokens: GraphTokens, profile: ServerProfile, credential: Credential | None
) -> tuple[OAuth2Credentials, BearerTokens]:
    """exchangelib's credentials for the profile's app registration (without its secret),
    and where their tokens come from. ``MailServerError`` names a missing setting."""
    settings = graph_settings(profile, credential)
    login = OAuth2Credentials(
        client_id=settings.client_id, client_secret=None, tenant_id=settings.tenant_id
    )
    return login, BearerTokens(tokens, settings, profile)
