"""An exchangelib ``Account`` for one mailbox of an Exchange Server profile.

Whose credentials: a profile that holds them (``credential_source=profile``) logs in as its
service account and impersonates each mailbox (ExchangeImpersonation; the account needs the
ApplicationImpersonation role); otherwise each mailbox logs in with its own credentials
(delegate access to itself). Where: the profile's ``ews_url`` option, or autodiscover from
the mailbox's address when it is empty. How: ``auth`` = ``ntlm`` (the default of Exchange's
EWS virtual directory) or ``basic``. The server version is given, not guessed: exchangelib
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
    Account,
    Build,
    Configuration,
    Credentials,
    Version,
)
from exchangelib.autodiscover import Autodiscovery
from exchangelib.protocol import FailFast, Protocol

from tidings.adapters.ews.errors import Context
from tidings.adapters.ews.transport import ProfileProtocol
from tidings.domain.credentials import Credential
from tidings.domain.errors import MailServerError
from tidings.domain.server_profile import CredentialSource, ServerProfile

# exchangelib logs each request's headers at DEBUG, the Authorization header among them.
logging.getLogger("exchangelib.util").setLevel(logging.INFO)

AUTH_TYPES: dict[str, str] = {"ntlm": NTLM, "basic": BASIC}
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
    profile: ServerProfile, credential: Credential | None, address: str, folder: str | None = None
) -> Mailbox:
    """The mailbox at ``address`` through ``profile``; blocking only when autodiscover runs."""
    context = mailbox_context(profile, address, folder)
    impersonating = context.impersonating
    if profile.credential_source is CredentialSource.OAUTH:
        raise MailServerError(
            "Exchange Server profiles log in with a password (NTLM or basic), not OAuth",
            permanent=True,
        )
    if credential is None:
        raise MailServerError("no credentials are stored for this mailbox", permanent=True)
    credentials = Credentials(credential.username, credential.password)
    config = Configuration(
        service_endpoint=profile.options.get("ews_url") or _discover(address, credentials),
        credentials=credentials,
        auth_type=_auth_type(profile),
        version=Version(build=EXCHANGE_BUILD),
        retry_policy=FailFast(),
        max_connections=1,
    )
    account = Account(
        address, access_type=IMPERSONATION if impersonating else DELEGATE, config=config
    )
    # Account made and cached a shared protocol (nothing sent yet); use one of our own.
    with contextlib.suppress(KeyError):
        del Protocol[config]
    account.protocol = ProfileProtocol(config=config, profile=profile)
    return Mailbox(account, context)


def mailbox_context(profile: ServerProfile, address: str, folder: str | None = None) -> Context:
    """What errors about this mailbox say, before it is opened."""
    return Context(address, profile.credential_source is CredentialSource.PROFILE, folder)


def _auth_type(profile: ServerProfile) -> str:
    name = profile.options.get("auth", "ntlm").strip().lower() or "ntlm"
    if name not in AUTH_TYPES:
        raise MailServerError(
            f"unknown EWS authentication {name!r}: use ntlm or basic", permanent=True
        )
    return AUTH_TYPES[name]


def _discover(address: str, credentials: Credentials) -> str:
    """The EWS URL autodiscover gives for ``address`` (POX autodiscover over HTTPS)."""
    _, protocol = Autodiscovery(email=address, credentials=credentials).discover()
    return str(protocol.service_endpoint)
