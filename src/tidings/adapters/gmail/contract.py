"""The Gmail API's documented payloads, read into Tidings' values: no I/O here.

- users.history.list: https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.history/list
- users.messages.list / get: https://developers.google.com/workspace/gmail/api/reference/rest/v1/users.messages
- error bodies: https://developers.google.com/workspace/gmail/api/guides/handle-errors
- push messages: https://developers.google.com/workspace/gmail/api/guides/push ("Receive
  notifications") inside Pub/Sub's push envelope, https://cloud.google.com/pubsub/docs/push
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tidings.domain.errors import MailServerError
from tidings.domain.mail_api import ApiMessage

#: Reads, label changes and sending: the one scope Tidings asks for (and an admin grants).
SCOPE = "https://www.googleapis.com/auth/gmail.modify"
GMAIL_URL = "https://gmail.googleapis.com"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 - an endpoint, not a secret
#: Both lists allow up to 500 entries per page; fewer round trips on a first sync.
PAGE_SIZE = 500


@dataclass(frozen=True)
class GmailCursor:
    """Where a folder's sync stands: a history id and, while the folder is first listed,
    the messages.list page to read next and its ``after:`` bound.

    Stored as text: ``"<historyId>"`` once listed, ``"list:<historyId>:<after>:<token>"``
    while listing, so a restart mid-listing goes on at the same page.
    """

    history_id: str
    page_token: str | None = None
    after: int | None = None

    def format(self) -> str:
        if self.page_token is None:
            return self.history_id
        return f"list:{self.history_id}:{self.after or ''}:{self.page_token}"

    @classmethod
    def parse(cls, text: str) -> GmailCursor:
        if not text.startswith("list:"):
            return cls(text)
        history_id, after, token = text.removeprefix("list:").split(":", 2)
        return cls(history_id, token, int(after) if after else None)


@dataclass(frozen=True)
class ApiError:
    """A Gmail error answer: its HTTP status, first ``reason`` and ``message``."""

    status: int
    reason: str
    message: str


def parse_error(status: int, body: Any) -> ApiError:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return ApiError(status, "", str(body)[:200])
    details = error.get("errors") or [{}]
    first = details[0] if isinstance(details[0], dict) else {}
    return ApiError(status, str(first.get("reason", "")), str(error.get("message", "")))


def listed_ids(body: dict[str, Any]) -> list[str]:
    """A messages.list page, oldest first (Gmail lists newest first)."""
    return [str(m["id"]) for m in reversed(body.get("messages", []))]


def added_to_label(records: list[dict[str, Any]], label_id: str) -> list[str]:
    """Message ids a history page shows arriving with ``label_id`` or having it added (a
    move in), in history order."""
    found: list[str] = []
    for record in records:
        for added in record.get("messagesAdded", []):
            if label_id in added["message"].get("labelIds", []):
                found.append(str(added["message"]["id"]))
        for labelled in record.get("labelsAdded", []):
            if label_id in labelled.get("labelIds", []):
                found.append(str(labelled["message"]["id"]))
    return list(dict.fromkeys(found))


def removed_from_label(records: list[dict[str, Any]], label_id: str) -> list[str]:
    """Message ids a history page shows leaving ``label_id``: deleted (``messagesDeleted``)
    or the label taken off (``labelsRemoved``, a move out), and not given it back later on
    the same page (history order decides), in history order."""
    state: dict[str, bool] = {}
    for record in records:
        for kind in ("messagesAdded", "labelsAdded", "labelsRemoved", "messagesDeleted"):
            for entry in record.get(kind, []):
                message = entry.get("message", {})
                if "id" not in message:
                    continue
                changed = [str(x) for x in entry.get("labelIds", [])]
                labels = [str(x) for x in message.get("labelIds", [])]
                if kind == "messagesDeleted":
                    gone = True
                elif kind == "labelsRemoved":
                    if label_id not in changed:
                        continue
                    gone = True
                elif label_id in (changed if kind == "labelsAdded" else labels):
                    gone = False
                else:
                    continue
                state.pop(str(message["id"]), None)
                state[str(message["id"])] = gone
    return [message_id for message_id, gone in state.items() if gone]


def labels_by_message(records: list[dict[str, Any]], label_id: str) -> dict[str, list[str]]:
    """Each message's labels (ids) after the last change a history page shows of it, for the
    messages that carry ``label_id`` then (users.history.list: every ``messagesAdded``,
    ``labelsAdded`` and ``labelsRemoved`` entry holds the message with its ``labelIds``)."""
    found: dict[str, list[str]] = {}
    for record in records:
        for kind in ("messagesAdded", "labelsAdded", "labelsRemoved"):
            for entry in record.get(kind, []):
                message = entry.get("message", {})
                labels = [str(x) for x in message.get("labelIds", [])]
                if "id" in message and label_id in labels:
                    found.pop(str(message["id"]), None)
                    found[str(message["id"])] = labels
    return found


def to_api_message(body: dict[str, Any]) -> ApiMessage:
    """A message got with ``format=raw``: base64url MIME and the internal date in ms."""
    try:
        raw = base64.urlsafe_b64decode(_padded(str(body["raw"])))
    except (KeyError, binascii.Error, ValueError) as error:
        raise MailServerError(
            "Gmail returned a message without raw content", permanent=False
        ) from error
    internal = body.get("internalDate")
    received = (
        datetime.fromtimestamp(int(str(internal)) / 1000, UTC) if str(internal).isdigit() else None
    )
    return ApiMessage(str(body["id"]), received, raw)


def pushed_address(body: bytes) -> str | None:
    """The ``emailAddress`` a Pub/Sub push of a Gmail notification names, or None when the
    body is not one: ``{"message": {"data": base64({"emailAddress", "historyId"}), ...},
    "subscription": ...}``. Gmail calls the data base64url and Pub/Sub base64: both are read.
    """
    try:
        data = str(json.loads(body)["message"]["data"])
        decoded = base64.b64decode(_padded(data.replace("-", "+").replace("_", "/")), validate=True)
        address = json.loads(decoded)["emailAddress"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None
    return address if isinstance(address, str) and "@" in address else None


def label_query(after: datetime | None) -> int | None:
    """``after:`` takes epoch seconds, which Gmail reads as an instant, not a local day."""
    return int(after.timestamp()) if after is not None else None


def _padded(text: str) -> str:
    return text + "=" * (-len(text) % 4)


#: System labels a folder rule may name besides the user labels (by their names, which are
#: their ids): mail a person sent, starred or Gmail marked important. The others are not
#: places mail is filed: UNREAD is a state, DRAFT unsent, SPAM and TRASH unwanted, CHAT no
#: email, and the CATEGORY_ tabs sort the Inbox, which is tracked anyway.
TRACKABLE_SYSTEM_LABELS = ("SENT", "STARRED", "IMPORTANT")


def label_folders(body: dict[str, Any]) -> list[str]:
    """The folder names a users.labels.list answer offers folder-level tracking: every user
    label by name ("Projects/Contoso" for a nested one) and the trackable system labels the
    mailbox has, as sync finds a label (by name)."""
    found = body.get("labels")
    names = []
    for label in found if isinstance(found, list) else []:
        if not isinstance(label, dict):
            continue
        name = str(label.get("name") or "")
        if label.get("type") == "user" or name in TRACKABLE_SYSTEM_LABELS:
            names.append(name)
    return sorted({name for name in names if name.strip()})
