"""Credentials for logging in to mail servers, and which ones a connection uses.

A credential belongs to a mailbox or to a server profile (a service account), for incoming or
outgoing mail. Its password exists in clear only in memory, only while a connection needs it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from tidings.domain.server_profile import CredentialSource, ServerProfile


class CredentialScope(enum.StrEnum):
    """Who a stored credential belongs to."""

    MAILBOX = "mailbox"
    SERVER_PROFILE = "server_profile"


class Direction(enum.StrEnum):
    """Which server a credential logs in to."""

    INCOMING = "incoming"
    OUTGOING = "outgoing"


@dataclass(frozen=True)
class Credential:
    """A user name and password, in clear; never printed.

    Under OAuth (``CredentialSource.OAUTH``) the password is the mailbox's refresh token and
    ``client_secret`` the profile's: the two together obtain access tokens.
    """

    username: str
    password: str = field(repr=False)
    client_secret: str = field(default="", repr=False)


@dataclass(frozen=True)
class CredentialKey:
    """Where a credential is kept."""

    scope: CredentialScope
    scope_id: int
    direction: Direction


def credential_keys(
    profile: ServerProfile, mailbox_id: int, direction: Direction
) -> list[CredentialKey]:
    """The places to look for the credential of one connection, most specific first.

    Profiles that hold credentials use them for every mailbox; otherwise each mailbox has its
    own. "Use the same credentials for outgoing" makes the outgoing server use the incoming ones.
    """
    # Under OAuth each mailbox holds its own refresh token; the profile holds the client secret.
    scope, scope_id = (
        (CredentialScope.SERVER_PROFILE, profile.id or 0)
        if profile.credential_source is CredentialSource.PROFILE
        else (CredentialScope.MAILBOX, mailbox_id)
    )
    keys = [CredentialKey(scope, scope_id, direction)]
    if direction is Direction.OUTGOING and profile.same_credentials_for_outgoing:
        keys.insert(0, CredentialKey(scope, scope_id, Direction.INCOMING))
    return keys


def client_secret_key(profile: ServerProfile) -> CredentialKey | None:
    """Where an OAuth profile keeps its client secret; None for other profiles."""
    if profile.credential_source is not CredentialSource.OAUTH:
        return None
    return CredentialKey(CredentialScope.SERVER_PROFILE, profile.id or 0, Direction.INCOMING)
