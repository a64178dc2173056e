"""The shapes sync works with: the sessions it drives, its targets, what it tells listeners."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tidings.domain.credentials import Credential

# Re-exported: their home is the domain (adapters build them), sync names them here.
from tidings.domain.mail_api import ApiMessage as ApiMessage
from tidings.domain.mail_api import DeltaPage as DeltaPage
from tidings.domain.server_profile import ServerProfile, ServerProfileKind
from tidings.domain.sync import FetchedMessage, FolderStatus
from tidings.services.tracking.results import IngestResult

__all__ = ["ApiMessage", "DeltaPage"]  # their home is the domain, where adapters reach them


#: Bytes of email a catch-up's chunk holds at most (a larger email is a chunk of its own):
#: a chunk and the next, fetched meanwhile, are in memory at once, and a hundred scans of
#: 20 MB each would be 4 GB.
CHUNK_BYTES = 16 * 1024 * 1024


class FolderSession(Protocol):
    """A connection with one folder selected (``ImapFolderSession``)."""

    status: FolderStatus
    #: What the server said when it last left a message out of a ``fetch``, if anything.
    fetch_refusal: str | None

    async def uids_after(self, last_uid: int, since: datetime | None = None) -> list[int]: ...
    async def fetch(self, uids: Sequence[int]) -> list[FetchedMessage]:
        """Those of ``uids`` the server hands over; it may leave some out."""
        ...

    async def missing(self, uids: Sequence[int]) -> list[int]:
        """Those of ``uids`` no longer in the folder."""
        ...

    async def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        """The size in bytes of each of ``uids`` the server tells."""
        ...

    async def fetch_new(self, last_uid: int, most: int) -> list[FetchedMessage] | None:
        """Every message above ``last_uid`` without a search first, or None when the
        session cannot tell there are at most about ``most``."""
        ...

    def counts(self) -> object:
        """What ``caught_up_at`` takes: read before a catch-up lists what is new."""
        ...

    def caught_up_at(self, counts: Any) -> None:
        """The catch-up that read ``counts`` first ingested everything it found."""
        ...

    async def wait_for_change(self, timeout: float) -> bool: ...
    async def close(self) -> None: ...


class FolderOpener(Protocol):
    async def __call__(
        self, profile: ServerProfile, credential: Credential, folder: str
    ) -> FolderSession: ...


class Pop3Session(Protocol):
    """A logged-in POP3 session (``Pop3Mailbox``)."""

    #: The server's answer when it last refused a message.
    refusal: str | None

    async def uidls(self) -> list[tuple[int, str]]: ...
    async def sizes(self) -> dict[int, int]:
        """The size in bytes of each message, by its number (LIST)."""
        ...

    async def retrieve(self, number: int) -> bytes | None:
        """The message's bytes, or None when the server refused it (the session goes on)."""
        ...

    async def close(self) -> None: ...


class Pop3Opener(Protocol):
    async def __call__(self, profile: ServerProfile, credential: Credential) -> Pop3Session: ...


class DeltaSession(Protocol):
    """One folder of one mailbox reached through a mail API: Microsoft Graph (delta query),
    Gmail (history) or Exchange Web Services (SyncFolderItems).

    Errors are ``MailServerError``; ``ThrottledError`` says how long to wait and
    ``CursorExpiredError`` that the cursor must be dropped and the folder read again.
    """

    #: True when the vendor's notifications wake ``wait_for_change`` (Graph subscriptions,
    #: Gmail watch, EWS streaming); False when it only waits out the polling interval.
    supports_push: bool

    async def changes(self, cursor: str | None, received_after: datetime | None) -> DeltaPage:
        """Messages new since ``cursor``; with None, every message of the folder (received
        after ``received_after`` when that is given) and a cursor to go on from."""
        ...

    #: Messages of the last ``fetch`` the vendor holds but did not hand over, and why.
    withheld: dict[str, str]

    async def fetch(self, ids: Sequence[str]) -> list[ApiMessage]:
        """The MIME bytes of these messages, in the order asked; a message deleted since it
        was listed is left out, and one the vendor answered with an error of its own is
        left out and named in ``withheld``."""
        ...

    async def wait_for_change(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for news of a change; True if there was some."""
        ...

    async def close(self) -> None: ...


class DeltaOpener(Protocol):
    """Opens one folder of the mailbox at ``address`` through its profile's mail API."""

    async def __call__(
        self, profile: ServerProfile, credential: Credential, address: str, folder: str
    ) -> DeltaSession: ...


#: POP3 keeps no UIDVALIDITY; its origins use this one. Mail APIs have none either.
POP3_UIDVALIDITY = 0
API_UIDVALIDITY = 0
#: Profile kinds whose mail arrives through a mail API rather than IMAP or POP3.
API_KINDS = frozenset(
    {ServerProfileKind.EXCHANGE_ONLINE, ServerProfileKind.EXCHANGE_SERVER, ServerProfileKind.GMAIL}
)
SYNCED_KINDS = frozenset({ServerProfileKind.IMAP_SMTP, ServerProfileKind.POP3_SMTP}) | API_KINDS


@dataclass(frozen=True)
class SyncTarget:
    """One folder of one mailbox to keep in sync."""

    mailbox_id: int
    address: str
    folder: str
    profile: ServerProfile
    credential: Credential


@dataclass(frozen=True)
class Ingested:
    """Sync committed these results for a folder (what listeners hear)."""

    target: SyncTarget
    results: list[IngestResult]


@dataclass(frozen=True)
class Alerted:
    """Sync raised an alert on a mailbox, and perhaps disabled it."""

    target: SyncTarget
    text: str
    disabled: bool


SyncEvent = Ingested | Alerted


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with full jitter, capped."""

    first_seconds: float = 1.0
    cap_seconds: float = 300.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap_seconds, self.first_seconds * 2 ** min(attempt, 20))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not secrecy
