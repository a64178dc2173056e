"""Finding the credential a connection uses, and opening its sealed password."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tidings.domain.credentials import (
    Credential,
    CredentialKey,
    Direction,
    client_secret_key,
    credential_keys,
)
from tidings.domain.server_profile import ServerProfile
from tidings.services.ports import SecretBox, UnitOfWork


def load_credential(
    uow: UnitOfWork,
    secrets: SecretBox,
    profile: ServerProfile,
    mailbox_id: int,
    direction: Direction,
) -> Credential | None:
    """The mailbox's (or the profile's) credential for ``direction``, password in clear.

    Under OAuth it also carries the profile's client secret, if the profile holds one.
    """
    for key in credential_keys(profile, mailbox_id, direction):
        found = uow.credentials.get(key)
        if found is not None:
            username, sealed = found
            return with_client_secret(
                Credential(username, secrets.open(sealed)),
                profile,
                uow.credentials.get,
                secrets.open,
            )
    return None


def with_client_secret(
    credential: Credential,
    profile: ServerProfile,
    lookup: Callable[[CredentialKey], tuple[str, str] | None],
    open_secret: Callable[[str], str],
) -> Credential:
    """``credential`` joined to its OAuth profile's client secret (unchanged otherwise).

    A profile without one serves a public client, which refreshes tokens without a secret.
    """
    key = client_secret_key(profile)
    found = lookup(key) if key is not None else None
    if found is None:
        return credential
    return dataclasses.replace(credential, client_secret=open_secret(found[1]))
