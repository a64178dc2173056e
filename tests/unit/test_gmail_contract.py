"""The Gmail adapter's pure parts: cursors, history records, error bodies, watch renewal."""

from __future__ import annotations

import time

import pytest

from tidings.adapters.gmail.contract import GmailCursor, added_to_label, parse_error
from tidings.adapters.gmail.push import GmailPushHub


@pytest.mark.parametrize(
    "cursor",
    [GmailCursor("1234"), GmailCursor("1234", "tok:en", 1767225600), GmailCursor("9", "t", None)],
)
def test_a_cursor_reads_back_as_it_was_written(cursor: GmailCursor) -> None:
    # The page token may hold any character, colons included.
    assert GmailCursor.parse(cursor.format()) == cursor


def test_new_in_a_label_means_arrived_with_it_or_had_it_added() -> None:
    # A label added to another message of the folder, or a message arriving elsewhere, is not new.
    records = [
        {"id": "10", "messagesAdded": [{"message": {"id": "a", "labelIds": ["INBOX", "UNREAD"]}}]},
        {"id": "11", "messagesAdded": [{"message": {"id": "b", "labelIds": ["SENT"]}}]},
        {"id": "12", "labelsAdded": [{"message": {"id": "c"}, "labelIds": ["INBOX"]}]},
        {"id": "13", "labelsAdded": [{"message": {"id": "a"}, "labelIds": ["STARRED"]}]},
        {"id": "14", "labelsAdded": [{"message": {"id": "a"}, "labelIds": ["INBOX"]}]},
    ]
    assert added_to_label(records, "INBOX") == ["a", "c"]


def test_google_error_bodies_give_their_first_reason() -> None:
    body = {
        "error": {
            "code": 403,
            "message": "Request had insufficient authentication scopes.",
            "errors": [{"reason": "insufficientPermissions", "domain": "global"}],
        }
    }
    error = parse_error(403, body)
    assert (error.reason, error.message) == (
        "insufficientPermissions",
        "Request had insufficient authentication scopes.",
    )
    assert parse_error(502, "<html>Bad Gateway</html>").reason == ""


def test_a_watch_is_renewed_once_it_has_less_than_six_days_left() -> None:
    hub = GmailPushHub()
    assert hub.needs_watch("dana@northwind.example")
    in_ms = lambda days: str(int((time.time() + days * 86400) * 1000))  # noqa: E731
    hub.watched("Dana@Northwind.example", in_ms(7))
    assert not hub.needs_watch("dana@northwind.example")
    hub.watched("dana@northwind.example", in_ms(5.9))
    assert hub.needs_watch("dana@northwind.example")
