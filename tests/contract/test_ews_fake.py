"""The EWS contract fake held to the contract by exchangelib itself: a service account
impersonating a mailbox syncs, fetches MIME and sends, and each documented error reaches
exchangelib as the exception it raises against a real Exchange server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from exchangelib import (
    DELEGATE,
    IMPERSONATION,
    Account,
    Build,
    Configuration,
    Credentials,
    Message,
    Version,
)
from exchangelib.errors import (
    ErrorFolderNotFound,
    ErrorImpersonateUserDenied,
    ErrorInvalidSyncStateData,
    ErrorNonExistentMailbox,
    ErrorServerBusy,
    ErrorSubscriptionNotFound,
    UnauthorizedError,
)
from exchangelib.properties import CreatedEvent, NewMailEvent
from exchangelib.protocol import FailFast

from tests.builders import make_email
from tests.contract.ews_fake import FakeEwsServer

DANA = "dana@northwind.example"


@pytest.fixture
def ews(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEwsServer]:
    with FakeEwsServer(tmp_path / "ews") as server:
        server.add_mailbox(DANA, password="dana-pass")
        server.set_service_account("svc-tidings", "svc-pass", may_impersonate=True)
        # exchangelib verifies TLS through requests; these tests trust the fake's CA that way.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.ca_file))
        yield server


def account(
    ews: FakeEwsServer,
    user: str = "svc-tidings",
    password: str = "svc-pass",
    address: str = DANA,
    access_type: str = IMPERSONATION,
) -> Account:
    config = Configuration(
        service_endpoint=ews.url,
        credentials=Credentials(user, password),
        auth_type="basic",
        version=Version(build=Build(15, 1, 2507, 6)),
        retry_policy=FailFast(),
    )
    return Account(address, access_type=access_type, config=config)


def test_an_impersonating_service_account_syncs_the_inbox_page_by_page(ews):
    # Creates come in pages of MaxChangesReturned; the last page says IncludesLastItemInRange.
    ids = [ews.deliver(DANA, make_email(message_id=f"<p{n}@contoso.example>")) for n in range(3)]
    inbox = account(ews).inbox
    changes = list(inbox.sync_items(max_changes_returned=2, only_fields=["datetime_received"]))
    assert [(kind, item.id) for kind, item in changes] == [("create", i) for i in ids]
    assert all(item.datetime_received is not None for _, item in changes)
    state = inbox.item_sync_state
    assert list(inbox.sync_items(sync_state=state)) == []
    late = ews.deliver(DANA, make_email(message_id="<late@contoso.example>"))
    assert [item.id for _, item in inbox.sync_items(sync_state=state)] == [late]
    assert ews.operations(DANA).count("SyncFolderItems") == 4


def test_get_item_hands_over_the_mime_content_as_delivered(ews):
    raw = make_email(message_id="<mime@contoso.example>")
    item_id = ews.deliver(DANA, raw)
    acc = account(ews)
    [message] = acc.fetch(ids=[(item_id, None)], only_fields=["mime_content", "datetime_received"])
    assert message.mime_content == raw


def test_tracked_folders_are_found_by_display_name(ews):
    ews.create_folder(DANA, "Projects/Contoso")
    item_id = ews.deliver(DANA, make_email(), folder="Projects/Contoso")
    root = account(ews).msg_folder_root
    folder = root // "Projects" // "Contoso"
    assert [item.id for _, item in folder.sync_items(only_fields=["datetime_received"])] == [
        item_id
    ]
    with pytest.raises(ErrorFolderNotFound):
        _ = root // "Projects" // "Fabrikam"


def test_send_and_save_copy_sends_the_mime_as_is_and_keeps_a_copy(ews):
    raw = make_email(sender=DANA, to="maria@contoso.example", message_id="<out@northwind.example>")
    Message(account=account(ews), mime_content=raw).send_and_save()
    assert ews.sent(DANA) == [raw]
    # exchangelib finds Sent Items (root, then sentitems) to name the SavedItemFolderId.
    assert ews.operations(DANA) == ["GetFolder", "GetFolder", "CreateItem"]


def test_a_mailbox_reaches_itself_with_its_own_credentials(ews):
    # Delegate access to one's own mailbox: no ExchangeImpersonation header.
    item_id = ews.deliver(DANA, make_email())
    inbox = account(ews, DANA, "dana-pass", access_type=DELEGATE).inbox
    assert [item.id for _, item in inbox.sync_items(only_fields=["datetime_received"])] == [item_id]


def test_a_wrong_password_is_answered_with_http_401(ews):
    with pytest.raises(UnauthorizedError):
        _ = account(ews, password="wrong").inbox


def test_impersonation_without_the_role_is_denied(ews):
    ews.set_service_account("svc-tidings", "svc-pass", may_impersonate=False)
    with pytest.raises(ErrorImpersonateUserDenied):
        _ = account(ews).inbox


def test_an_unknown_mailbox_does_not_exist(ews):
    with pytest.raises(ErrorNonExistentMailbox):
        _ = account(ews, address="nobody@northwind.example").inbox


def test_a_forgotten_sync_state_is_invalid_sync_state_data(ews):
    inbox = account(ews).inbox
    list(inbox.sync_items())
    state = inbox.item_sync_state
    ews.forget_sync_states()
    with pytest.raises(ErrorInvalidSyncStateData):
        list(inbox.sync_items(sync_state=state))


def test_a_busy_server_says_how_long_to_back_off(ews):
    acc = account(ews)
    ews.make_busy(1, back_off_ms=1500)
    with pytest.raises(ErrorServerBusy) as busy:
        _ = acc.inbox
    assert busy.value.back_off == 1.5
    assert acc.inbox.name == "Inbox"


def test_a_streaming_subscription_hands_over_the_events_of_new_mail(ews):
    # Events raised while no connection is open wait for the next GetStreamingEvents.
    inbox = account(ews).inbox
    subscription = inbox.subscribe_to_streaming(event_types=["NewMailEvent", "CreatedEvent"])
    item_id = ews.deliver(DANA, make_email())
    [notification] = inbox.get_streaming_events(
        subscription, connection_timeout=1, max_notifications_returned=1
    )
    assert notification.subscription_id == subscription
    assert [(type(e), e.item_id.id) for e in notification.events] == [
        (NewMailEvent, item_id),
        (CreatedEvent, item_id),
    ]


def test_a_streaming_connection_without_events_closes_after_its_timeout(tmp_path, monkeypatch):
    with FakeEwsServer(tmp_path / "quick", minute_seconds=0.2) as quick:
        quick.add_mailbox(DANA, password="dana-pass")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(quick.ca_file))
        inbox = account(quick, DANA, "dana-pass", access_type=DELEGATE).inbox
        subscription = inbox.subscribe_to_streaming()
        assert list(inbox.get_streaming_events(subscription, connection_timeout=1)) == []


def test_an_expired_subscription_is_not_found(ews):
    inbox = account(ews).inbox
    subscription = inbox.subscribe_to_streaming()
    ews.forget_subscriptions()
    with pytest.raises(ErrorSubscriptionNotFound):
        list(inbox.get_streaming_events(subscription, connection_timeout=1))


def test_updating_categories_is_an_update_change_carrying_them(ews):
    # UpdateItem sets item:Categories whole; SyncFolderItems then reports an Update with
    # the categories asked for, and deleting the field clears them.
    item_id = ews.deliver(DANA, make_email(message_id="<cat@contoso.example>"))
    acc = account(ews)
    inbox = acc.inbox
    list(inbox.sync_items(only_fields=["categories"]))
    state = inbox.item_sync_state
    [item] = acc.fetch(ids=[(item_id, None)], only_fields=["categories"])
    assert item.categories is None
    item.categories = ["Red", "Tracked to Tidings"]
    [updated] = acc.bulk_update([(item, ["categories"])])
    assert not isinstance(updated, Exception)
    changes = list(inbox.sync_items(sync_state=state, only_fields=["categories"]))
    assert [(kind, i.id, i.categories) for kind, i in changes] == [
        ("update", item_id, ["Red", "Tracked to Tidings"])
    ]
    ews.set_categories(DANA, "<cat@contoso.example>", [])
    assert ews.categories(DANA, item_id) == []
