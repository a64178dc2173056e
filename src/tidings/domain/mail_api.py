"""What a mail API (Graph, Gmail, EWS) hands sync: pages of changes and messages.

They live in the domain because the adapters build them and the services consume them, and
neither layer may import the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DeltaPage:
    """What a mail API says changed in one folder since a cursor."""

    #: The vendor's ids of messages new to the folder (arrived or moved in), oldest first.
    added: tuple[str, ...]
    #: Where the next call starts (deltaLink or nextLink, historyId, EWS sync state); stored
    #: only once every message of ``added`` is committed.
    cursor: str
    #: Another page follows at once (Graph nextLink, Gmail nextPageToken, EWS
    #: IncludesLastItemInRange false): ask again before waiting.
    more: bool = False
    #: The categories (Outlook categories, Gmail labels) of messages the page reported new
    #: or changed, by id, where the vendor reports them: the tracked category is read here.
    categories: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The vendor's ids of messages that left the folder (deleted, or moved out): Graph
    #: ``@removed``, EWS ``Delete``, Gmail ``messagesDeleted`` or the folder's label removed.
    removed: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApiMessage:
    """One message as a mail API hands it over: its id, when it arrived, its MIME bytes."""

    id: str
    received_at: datetime | None
    raw: bytes
    #: Its categories, where the answer that fetched it names them (Gmail's ``labelIds``):
    #: a listing names none, so a first sync reads a person's mark from here. None where the
    #: delta page reports categories instead.
    categories: tuple[str, ...] | None = None


@dataclass(frozen=True)
class PushReply:
    """What Tidings answers a mail API's change notification (or its validation handshake)."""

    status: int
    #: A plain-text body (Graph's validation token echoed back), else empty.
    text: str = ""


@dataclass(frozen=True)
class RelayedPush:
    """A change notification as the web process that received it hands it to the sync
    workers: the request's parts that the receiver of its kind checks, unchanged."""

    #: The profile kind of the endpoint it reached (``exchange_online``, ``gmail``).
    kind: str
    query: tuple[tuple[str, str], ...]
    body: bytes
    #: Only the headers a receiver reads (Gmail's Authorization), names in lower case.
    headers: tuple[tuple[str, str], ...]
