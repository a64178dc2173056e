"""The Gmail adapter's pure parts: cursors, history records, error bodies, watch renewal,
pushed notifications."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from tests.builders import ManualClock
from tidings.adapters.gmail.contract import (
    GmailCursor,
    added_to_label,
    parse_error,
    pushed_address,
    removed_from_label,
)
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


def test_gone_from_a_label_means_deleted_or_the_label_taken_off_and_not_given_back() -> None:
    records = [
        {"id": "10", "messagesDeleted": [{"message": {"id": "a", "labelIds": ["INBOX"]}}]},
        {"id": "11", "labelsRemoved": [{"message": {"id": "b"}, "labelIds": ["INBOX"]}]},
        {"id": "12", "labelsRemoved": [{"message": {"id": "c"}, "labelIds": ["UNREAD"]}]},
        {"id": "13", "labelsRemoved": [{"message": {"id": "d"}, "labelIds": ["INBOX"]}]},
        {"id": "14", "labelsAdded": [{"message": {"id": "d"}, "labelIds": ["INBOX"]}]},
    ]
    # d was moved out and back within the page: where it ends is what counts.
    assert removed_from_label(records, "INBOX") == ["a", "b"]


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


def test_a_watch_is_renewed_once_it_has_less_than_six_days_left_by_tidings_clock() -> None:
    clock = ManualClock()
    hub = GmailPushHub(now=clock.now)
    assert hub.needs_watch("dana@northwind.example")
    in_ms = lambda days: str(int((clock.now().timestamp() + days * 86400) * 1000))  # noqa: E731
    hub.watched("Dana@Northwind.example", in_ms(7))
    assert not hub.needs_watch("dana@northwind.example")
    clock.advance(hours=23)
    assert not hub.needs_watch("dana@northwind.example")
    clock.advance(hours=2)  # a day and an hour later: less than six days left
    assert hub.needs_watch("dana@northwind.example")
    hub.watched("dana@northwind.example", in_ms(5.9))
    assert hub.needs_watch("dana@northwind.example")


def _push(data: bytes, encode: Callable[[bytes], bytes] = base64.b64encode) -> bytes:
    message = {"data": encode(data).decode().rstrip("="), "messageId": "2070443601311540"}
    return json.dumps({"message": message, "subscription": "projects/p/subscriptions/s"}).encode()


def test_a_pushed_gmail_notification_names_its_mailbox_in_either_base64() -> None:
    # Gmail's guide calls the data base64url, Pub/Sub's base64; padding may be left off.
    data = json.dumps({"emailAddress": "dana@northwind.example", "historyId": "9876543210"})
    # "~" makes the two alphabets differ: "+" in base64, "-" in base64url.
    odd = json.dumps({"emailAddress": "a+b?>~@northwind.example", "historyId": "1"}).encode()
    assert pushed_address(_push(data.encode())) == "dana@northwind.example"
    assert pushed_address(_push(odd, base64.urlsafe_b64encode)) == "a+b?>~@northwind.example"
    assert pushed_address(_push(odd)) == "a+b?>~@northwind.example"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"message": {}}',
        b'{"message": {"data": "%%%"}}',
        _push(b"not json"),
        _push(b'{"historyId": "1"}'),
        _push(b'{"emailAddress": 42}'),
    ],
)
def test_a_body_that_is_no_gmail_notification_names_no_mailbox(body: bytes) -> None:
    assert pushed_address(body) is None
