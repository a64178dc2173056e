"""The mailboxes behind the Gmail contract fake: messages, labels and each mailbox's history.

Pure state, no HTTP: ``gmail_fake.py`` serves it. It keeps what Google documents of a
mailbox for the calls Tidings makes:

- every change to a mailbox gets a history record with a growing id; ids rise with gaps
  (https://developers.google.com/workspace/gmail/api/guides/sync);
- a history record lists messages added (``messagesAdded``, with the labels the message
  arrived with), messages deleted for good (``messagesDeleted``: "Messages deleted (not
  Trashed) from the mailbox"; a message trashed is a label change, TRASH added) or labels
  added and removed (``labelsAdded``/``labelsRemoved``), see
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.history/list
  (and users.messages.delete,
  https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages/delete);
- ``messages.list`` answers newest first, filtered by label ids and the ``after:`` search
  operator (https://support.google.com/mail/answer/7190);
- old history ids expire: here when a test says so.
"""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime

#: The system labels every mailbox has (users.labels, "Manage labels" guide).
SYSTEM_LABELS = (
    "INBOX",
    "SENT",
    "DRAFT",
    "SPAM",
    "TRASH",
    "UNREAD",
    "STARRED",
    "IMPORTANT",
    "CATEGORY_PERSONAL",
    "CATEGORY_SOCIAL",
    "CATEGORY_PROMOTIONS",
    "CATEGORY_UPDATES",
    "CATEGORY_FORUMS",
)
#: History ids rise "with random gaps"; a fixed gap keeps tests repeatable.
HISTORY_GAP = 7


@dataclass
class FakeMessage:
    id: str
    thread_id: str
    raw: bytes
    labels: list[str]
    internal_ms: int
    history_id: int
    #: Gmail cannot serve it: messages.get answers 500 backendError.
    withheld: bool = False


@dataclass(frozen=True)
class HistoryRecord:
    """One change: ``kind`` is messageAdded, messageDeleted, labelAdded or labelRemoved."""

    id: int
    kind: str
    message_id: str
    thread_id: str
    #: The labels added or removed (labelAdded/labelRemoved); empty for messageAdded.
    changed: tuple[str, ...]
    #: The message's labels once the change was made (a deleted message's last labels: the
    #: documentation does not say, and a history.list filtered by label must still name it).
    labels_after: tuple[str, ...]

    def matches(self, label_id: str | None, kinds: set[str]) -> bool:
        if kinds and self.kind not in kinds:
            return False
        return label_id is None or label_id in self.labels_after or label_id in self.changed

    def to_json(self) -> dict[str, object]:
        message = {"id": self.message_id, "threadId": self.thread_id}
        labelled = {**message, "labelIds": list(self.labels_after)}
        record: dict[str, object] = {"id": str(self.id), "messages": [message]}
        if self.kind == "messageAdded":
            record["messagesAdded"] = [{"message": labelled}]
        elif self.kind == "messageDeleted":
            record["messagesDeleted"] = [{"message": labelled}]
        elif self.kind == "labelAdded":
            record["labelsAdded"] = [{"message": labelled, "labelIds": list(self.changed)}]
        else:
            record["labelsRemoved"] = [{"message": labelled, "labelIds": list(self.changed)}]
        return record


@dataclass
class FakeMailbox:
    """One user's Gmail: labels by id, messages by id, history oldest first."""

    address: str
    gmail_enabled: bool = True
    labels: dict[str, str] = field(default_factory=lambda: {n: n for n in SYSTEM_LABELS})
    #: A user label's labelListVisibility and messageListVisibility, as created.
    visibility: dict[str, tuple[str, str]] = field(default_factory=dict)
    messages: dict[str, FakeMessage] = field(default_factory=dict)
    history: list[HistoryRecord] = field(default_factory=list)
    history_id: int = 1000
    #: History ids below this one are forgotten: history.list answers 404.
    oldest_history_id: int = 0
    sent: list[bytes] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(0x18C2A0001))
    _label_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def create_label(
        self, name: str, label_list: str = "labelShow", message_list: str = "show"
    ) -> str:
        for label_id, existing in self.labels.items():
            if existing == name:
                return label_id
        label_id = f"Label_{next(self._label_ids)}"
        self.labels[label_id] = name
        self.visibility[label_id] = (label_list, message_list)
        return label_id

    def label_id(self, name_or_id: str) -> str:
        """A label named by id (INBOX) or by display name ("Projects/Contoso")."""
        if name_or_id in self.labels:
            return name_or_id
        return self.create_label(name_or_id)

    def add_message(self, raw: bytes, labels: list[str], received: datetime | None) -> str:
        number = next(self._ids)
        message_id = f"{number:016x}"
        when = received or datetime.now(UTC)
        self.history_id += HISTORY_GAP
        message = FakeMessage(
            message_id,
            message_id,
            raw,
            list(dict.fromkeys(labels)),
            int(when.timestamp() * 1000),
            self.history_id,
        )
        self.messages[message_id] = message
        self._record("messageAdded", message, ())
        return message_id

    def change_labels(self, message_id: str, add: list[str], remove: list[str]) -> None:
        message = self.messages[message_id]
        removed = [label for label in remove if label in message.labels]
        if removed:
            message.labels = [label for label in message.labels if label not in removed]
            self.history_id += HISTORY_GAP
            message.history_id = self.history_id
            self._record("labelRemoved", message, tuple(removed))
        added = [label for label in add if label not in message.labels]
        if added:
            message.labels += added
            self.history_id += HISTORY_GAP
            message.history_id = self.history_id
            self._record("labelAdded", message, tuple(added))

    def delete_message(self, message_id: str) -> None:
        """users.messages.delete: gone for good, told as ``messagesDeleted``."""
        message = self.messages.pop(message_id)
        self.history_id += HISTORY_GAP
        self._record("messageDeleted", message, ())

    def _record(self, kind: str, message: FakeMessage, changed: tuple[str, ...]) -> None:
        self.history.append(
            HistoryRecord(
                self.history_id, kind, message.id, message.thread_id, changed, tuple(message.labels)
            )
        )

    def forget_history(self) -> None:
        self.oldest_history_id = self.history_id + 1

    def listed(self, label_ids: list[str], after_seconds: int | None) -> list[FakeMessage]:
        """Messages carrying every label of ``label_ids``, newest first."""
        found = [
            m
            for m in self.messages.values()
            if all(label in m.labels for label in label_ids)
            and (after_seconds is None or m.internal_ms // 1000 > after_seconds)
        ]
        return sorted(found, key=lambda m: (m.internal_ms, m.id), reverse=True)

    def history_after(
        self, start: int, label_id: str | None, kinds: set[str]
    ) -> list[HistoryRecord]:
        return [r for r in self.history if r.id > start and r.matches(label_id, kinds)]

    def to_message_json(self, message: FakeMessage) -> dict[str, object]:
        return {
            "id": message.id,
            "threadId": message.thread_id,
            "labelIds": list(message.labels),
            "snippet": "",
            "historyId": str(message.history_id),
            "internalDate": str(message.internal_ms),
            "sizeEstimate": len(message.raw),
            "raw": base64.urlsafe_b64encode(message.raw).decode("ascii"),
        }


def parse_after(query: str) -> int | None:
    """The ``after:`` operator of a Gmail search: epoch seconds or a YYYY/MM/DD date (UTC
    here; Gmail reads dates in the user's zone, which is why Tidings sends seconds)."""
    after = None
    for term in query.split():
        if not term.startswith("after:"):
            continue
        value = term.removeprefix("after:")
        if value.isdigit():
            after = int(value)
        else:
            day = datetime.strptime(value.replace("-", "/"), "%Y/%m/%d").replace(tzinfo=UTC)
            after = int(day.timestamp())
    return after
