"""The mailboxes behind the Graph contract fake: folders, messages, a change log per folder,
and the sync states that delta links name.

Pure state, no HTTP: ``graph_fake.py`` serves it. Every method is called with the fake's lock
held. What it follows is cited in ``graph_fake.py``'s docstring; in short:

- A message has an immutable id, which survives moves within the mailbox, and a default
  (REST) id, which changes when the message moves (learn.microsoft.com/graph/outlook-immutable-id).
- Delta is per folder: the first round lists the folder (optionally ``receivedDateTime ge``),
  later rounds list what was added (created or moved in), updated (its categories changed)
  or removed (deleted or moved out) since the round's delta token, each message once
  (learn.microsoft.com/graph/delta-query-messages).
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy

#: The well-known folder names Graph accepts in place of an id, and their display names.
WELL_KNOWN = {
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
    "deleteditems": "Deleted Items",
    "archive": "Archive",
    "junkemail": "Junk Email",
}
ROOT = "msgfolderroot"


def opaque_id(prefix: str = "AAMkAG") -> str:
    """An id shaped like Exchange's: URL-safe base64 of random bytes."""
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(24)).decode().rstrip("=")


@dataclass
class Folder:
    id: str
    display_name: str
    parent_id: str
    well_known: str | None = None


@dataclass
class Message:
    immutable_id: str
    raw: bytes
    received: datetime
    folder_id: str
    #: Each move gives the message a new default id, as Exchange does.
    rest_id: str = field(default_factory=opaque_id)
    #: Outlook categories, by name, in the order they were set.
    categories: list[str] = field(default_factory=list)
    #: Graph cannot serve its MIME content: ``$value`` answers 500 generalException.
    withheld: bool = False

    def id(self, immutable: bool) -> str:
        return self.immutable_id if immutable else self.rest_id

    def properties(self) -> dict[str, object]:
        """The message resource's properties the fake knows, by their Graph names."""
        msg = message_from_bytes(self.raw, policy=policy.default)
        sender = msg.get("From", "")
        return {
            "receivedDateTime": iso(self.received),
            "subject": str(msg.get("Subject", "")),
            "internetMessageId": str(msg.get("Message-ID", "")),
            "parentFolderId": self.folder_id,
            "from": {"emailAddress": {"address": str(sender)}},
            "categories": list(self.categories),
        }


@dataclass(frozen=True)
class Change:
    """One entry of a folder's change log: a message came in or went out."""

    seq: int
    folder_id: str
    message_id: str
    added: bool


@dataclass
class Mailbox:
    address: str
    rest_enabled: bool = True
    folders: dict[str, Folder] = field(default_factory=dict)
    messages: dict[str, Message] = field(default_factory=dict)
    sent: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.folders[ROOT] = Folder(opaque_id("AQMkAD"), "Top of Information Store", "")
        root = self.folders[ROOT].id
        for name, display in WELL_KNOWN.items():
            folder = Folder(opaque_id("AQMkAD"), display, root, name)
            self.folders[folder.id] = folder

    @property
    def root_id(self) -> str:
        return self.folders[ROOT].id

    def folder(self, id_or_name: str) -> Folder | None:
        """A folder by id or by well-known name (case-insensitive, as Graph takes them)."""
        if id_or_name.lower() == ROOT:
            return self.folders[ROOT]
        for folder in self.folders.values():
            if folder.id == id_or_name or folder.well_known == id_or_name.lower():
                return folder
        return None

    def children(self, parent_id: str) -> list[Folder]:
        return [f for f in self.folders.values() if f.parent_id == parent_id]

    def folder_by_path(self, path: str, create: bool = False) -> Folder:
        """``Inbox``/``INBOX`` or a display-name path such as ``Projects/Contoso``."""
        if path.upper() == "INBOX":
            found = self.folder("inbox")
            assert found is not None
            return found
        parent = self.root_id
        folder: Folder | None = None
        for name in path.split("/"):
            folder = next((f for f in self.children(parent) if f.display_name == name), None)
            if folder is None:
                if not create:
                    raise KeyError(path)
                folder = Folder(opaque_id("AQMkAD"), name, parent)
                self.folders[folder.id] = folder
            parent = folder.id
        assert folder is not None
        return folder

    def message(self, any_id: str) -> Message | None:
        """A message by its immutable or its current default id."""
        found = self.messages.get(any_id)
        if found is not None:
            return found
        return next((m for m in self.messages.values() if m.rest_id == any_id), None)


@dataclass
class Round:
    """A delta round in progress: what is left to page through, and where it ends."""

    mailbox: str
    folder_id: str
    pending: list[tuple[str, bool]]
    #: The change-log position the round's delta token will stand for.
    seq: int
    select: tuple[str, ...]
    received_after: datetime | None


@dataclass
class Tokens:
    """Sync states by token: skip tokens name rounds in progress, delta tokens positions."""

    rounds: dict[str, Round] = field(default_factory=dict)
    positions: dict[str, Round] = field(default_factory=dict)

    def forget(self) -> None:
        self.rounds.clear()
        self.positions.clear()


def changes_since(log: list[Change], folder_id: str, seq: int) -> list[tuple[str, bool]]:
    """Each message that entered or left the folder after ``seq`` once, with its last state:
    a message that came and went within the window is reported removed, as Graph does."""
    last: dict[str, bool] = {}
    for change in log:
        if change.seq > seq and change.folder_id == folder_id:
            last.pop(change.message_id, None)
            last[change.message_id] = change.added
    return list(last.items())


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
