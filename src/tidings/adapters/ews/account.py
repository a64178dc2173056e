"""An exchangelib ``Account`` for one mailbox of an Exchange Server profile.

Whose credentials: a profile that holds them (``credential_source=profile``) logs in as its
service account and impersonates each mailbox (ExchangeImpersonation; the account needs the
ApplicationImpersonation role); otherwise each mailbox logs in with its own credentials
(delegate access to itself). Where: the profile's ``ews_url`` option, or autodiscover from
the mailbox's address when it is empty. How: ``auth`` = ``ntlm`` (the default of Exchange's
EWS virtual directory), ``basic``, or ``oauth``: an app registration's client secret (or
certificate) held by the profile signs in to Microsoft Entra ID and the app impersonates
each mailbox (see ``oauth``); it needs the EWS URL, since autodiscover would need a token of
its own. The server version is given, not guessed: exchangelib
asks with Exchange 2016's schema and steps down by itself if the server is older.

Building an account sends nothing; the first operation does.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from exchangelib import (
    BASIC,
    DELEGATE,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    Version,
)
from exchangelib.autodiscover import Autodiscovery
from exchangelib.protocol import FailFast, Protocol

from tidings.adapters.ews.errors import Context
from tidings.adapters.ews.oauth import BearerTokens, RefreshOn401, oauth_login
from tidings.adapters.ews.transport import ProfileProtocol
from tidings.adapters.graph.tokens import GraphTokens
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import CredentialSource, ServerProfile

# exchangelib logs each request's headers at DEBUG, the Authorization header among them.
logging.getLogger("exchangelib.util").setLevel(logging.INFO)

AUTH_TYPES: dict[str, str] = {"ntlm": NTLM, "basic": BASIC, "oauth": OAUTH2}
#: Exchange Server 2016 (15.1): the schema exchangelib asks with first.
EXCHANGE_BUILD = Build(15, 1)


@dataclass
class Mailbox:
    """A mailbox reached through EWS, and what error messages say about it."""

    account: Any
    context: Context

    def close(self) -> None:
        """End any streamed request and close the account's HTTP sessions."""
        self.account.protocol.interrupt()
        self.account.protocol.close()


def open_mailbox(
    profile: ServerProfile,
    credential: Credential | None,
    address: str,
    folder: str | None = None,
    *,
    tokens: GraphTokens,
) -> Mailbox:
    """The mailbox at ``address`` through ``profile``; blocking only when autodiscover runs.
    ``tokens`` is the shared cache OAuth profiles take their access tokens from."""
    context = mailbox_context(profile, address, folder)
    if profile.credential_source is CredentialSource.OAUTH:
        raise MailServerError(
            "Exchange Server profiles sign in with the profile's credentials (auth=oauth for "
            "an app registration's client secret), not with per-user OAuth",
            permanent=True,
        )
    auth_type = _auth_type(profile)
    bearer: BearerTokens | None = None
    if auth_type == OAUTH2:
        credentials, bearer = oauth_login(tokens, profile, credential)
        endpoint = _ews_url(profile)
    elif credential is None:
        raise MailServerError("no credentials are stored for this mailbox", permanent=True)
    else:
        credentials = Credentials(credential.username, credential.password)
        endpoint = profile.options.get("ews_url") or _discover(address, credentials)
    config = Configuration(
        service_endpoint=endpoint,
        credentials=credentials,
        auth_type=auth_type,
        version=Version(build=EXCHANGE_BUILD),
        retry_policy=FailFast() if bearer is None else RefreshOn401(bearer),
        max_connections=1,
    )
    account = Account(
        address, access_type=IMPERSONATION if context.impersonating else DELEGATE, config=config
    )
    # Account made and cached a shared protocol (nothing sent yet); use one of our own.
    with contextlib.suppress(KeyError):
        del Protocol[config]
    account.protocol = ProfileProtocol(config=config, profile=profile, bearer=bearer)
    return Mailbox(account, context)


def mailbox_context(profile: ServerProfile, address: str, folder: str | None = None) -> Context:
    """What errors about this mailbox say, before it is opened."""
    # An app-only token reaches a mailbox only by impersonating it.
    impersonating = profile.credential_source is CredentialSource.PROFILE or is_oauth(profile)
    return Context(address, impersonating, folder, oauth=is_oauth(profile))


def is_oauth(profile: ServerProfile) -> bool:
    return profile.options.get("auth", "").strip().lower() == "oauth"


def _auth_type(profile: ServerProfile) -> str:
    name = profile.options.get("auth", "ntlm").strip().lower() or "ntlm"
    if name not in AUTH_TYPES:
        raise MailServerError(
            f"unknown EWS authentication {name!r}: use ntlm, basic or oauth", permanent=True
        )
    return AUTH_TYPES[name]


def _ews_url(profile: ServerProfile) -> str:
    url = profile.options.get("ews_url", "").strip()
    if not url:
        raise MailServerError(
            "OAuth needs the profile's EWS URL (Exchange Online: "
            "https://outlook.office365.com/EWS/Exchange.asmx)",
            permanent=True,
        )
    return url


def _discover(address: str, credentials: Credentials) -> str:
    """The EWS URL autodiscover gives for ``address`` (POX autodiscover over HTTPS)."""
    _, protocol = Autodiscovery(email=address, credentials=credentials).discover()
    return str(protocol.service_endpoint)
