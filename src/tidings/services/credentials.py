"""Finding the credential a connection uses, and opening its sealed password."""

from __future__ import annotations

from tidings.domain.credentials import Credential, Direction, credential_keys
from tidings.domain.server_profile import ServerProfile
from tidings.services.ports import SecretBox, UnitOfWork


def load_credential(
    uow: UnitOfWork,
    secrets: SecretBox,
    profile: ServerProfile,
    mailbox_id: int,
    direction: Direction,
) -> Credential | None:
    """The mailbox's (or the profile's) credential for ``direction``, password in clear."""
    for key in credential_keys(profile, mailbox_id, direction):
        found = uow.credentials.get(key)
        if found is not None:
            username, sealed = found
            return Credential(username, secrets.open(sealed))
    return None
