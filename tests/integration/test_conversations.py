"""Conversations through the real ingest path, on both databases: every way a reply is
correlated puts it in the conversation of what it answers and records that activity; the
API, the console, ``tidings explain`` and email written in the CRM show the same thread."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.api_client import admin_client
from tests.builders import Org, make_email
from tests.conftest import TEST_SECRET_KEY
from tests.integration.test_console import sign_in
from tidings.domain.activity import CorrelationMethod, EmailActivity
from tidings.domain.conversation import MAX_REFERENCES
from tidings.domain.message import MessageOrigin
from tidings.domain.outgoing import OutboxPhase
from tidings.domain.people import Caller, Privilege
from tidings.domain.tracking import Outcome
from tidings.entrypoints.api.app import create_app
from tidings.entrypoints.cli.main import app as cli

#: Outlook's Thread-Index: its first 22 bytes name the conversation.
THREAD_INDEX = "Adp7LJ5AiNB6LNDhNHDEIstpe0FGMw=="
ADMIN = ("ada@northwind.example", "ada-password")


def _thread() -> list[bytes]:
    """An original, then replies found by In-Reply-To, tracking token and Thread-Index, and
    an unrelated email."""
    original = make_email(message_id="<a@contoso.example>")
    by_in_reply_to = make_email(
        sender="dana@northwind.example",
        to="maria@contoso.example",
        subject="RE: Quote for 500 seats CRM:0001001",
        message_id="<b@northwind.example>",
        in_reply_to="<a@contoso.example>",
        references="<a@contoso.example>",
        headers={"Thread-Index": THREAD_INDEX},
    )
    by_token = make_email(
        subject="RE: Quote for 500 seats CRM:0001001", message_id="<c@contoso.example>"
    )
    by_thread_index = make_email(
        subject="Also", message_id="<d@contoso.example>", headers={"Thread-Index": THREAD_INDEX}
    )
    unrelated = make_email(
        sender="tom@contoso.example", subject="Lunch?", message_id="<e@contoso.example>"
    )
    return [original, by_in_reply_to, by_token, by_thread_index, unrelated]


def _activities(org: Org, ids: list[int | None]) -> list[EmailActivity]:
    return [org.tidings.queries.activity(i).activity for i in ids if i is not None]


def _assert_one_thread(activities: list[EmailActivity]) -> None:
    original, reply, _, _, unrelated = activities
    assert original.conversation_id is not None
    assert {a.conversation_id for a in activities[:4]} == {original.conversation_id}
    assert unrelated.conversation_id not in (None, original.conversation_id)
    assert [(a.correlation, a.matched_activity_id) for a in activities] == [
        (CorrelationMethod.NONE, None),
        (CorrelationMethod.IN_REPLY_TO, original.id),
        (CorrelationMethod.TRACKING_TOKEN, reply.id),
        (CorrelationMethod.CONVERSATION_INDEX, reply.id),
        (CorrelationMethod.NONE, None),
    ]
    assert (reply.in_reply_to, reply.references) == (
        "<a@contoso.example>",
        ("<a@contoso.example>",),
    )


@pytest.fixture
def thread(org: Org) -> list[EmailActivity]:
    results = [org.deliver(raw) for raw in _thread()]
    assert [r.outcome for r in results] == [Outcome.TRACKED] * 5
    return _activities(org, [r.activity_id for r in results])


def test_replies_found_every_way_share_the_conversation_and_name_their_match(
    thread: list[EmailActivity],
) -> None:
    # In-Reply-To, tracking token and Thread-Index each join the thread of what they answer.
    _assert_one_thread(thread)


def test_a_thread_arriving_in_one_batch_is_one_conversation_too(org: Org) -> None:
    # Replies decided in the batch that records their original learn its id once it is saved.
    mailbox = org.mailboxes["dana"]
    batch = [
        (raw, MessageOrigin(mailbox, "INBOX", 1, str(uid)))
        for uid, raw in enumerate(_thread(), start=1)
    ]
    results = org.tidings.ingest.ingest_batch(batch)
    assert [r.outcome for r in results] == [Outcome.TRACKED] * 5
    _assert_one_thread(_activities(org, [r.activity_id for r in results]))


def test_a_hostile_references_chain_is_kept_bounded_to_its_first_and_last_ids(org: Org) -> None:
    # Thousands of ids: the first (the thread's start) and the newest ones are kept.
    ids = [f"<r{n}@spam.example>" for n in range(3000)]
    result = org.deliver(make_email(message_id="<many@spam.example>", references=" ".join(ids)))
    (activity,) = _activities(org, [result.activity_id])
    assert len(activity.references) == MAX_REFERENCES
    assert activity.references == (ids[0], *ids[-(MAX_REFERENCES - 1) :])


def test_the_api_shows_the_conversation_and_the_matched_email(
    org: Org, thread: list[EmailActivity]
) -> None:
    api = admin_client(org)
    original, reply, by_token, _, unrelated = thread
    detail = api.get(f"/api/activities/{by_token.id}").json()
    assert detail["conversation_id"] == original.conversation_id
    assert detail["correlation"] == {"method": "tracking_token", "matched_activity_id": reply.id}
    reply_json = api.get(f"/api/activities/{reply.id}").json()
    assert (reply_json["in_reply_to"], reply_json["references"]) == (
        "<a@contoso.example>",
        ["<a@contoso.example>"],
    )

    listed = api.get("/api/activities", params={"conversation_id": original.conversation_id})
    assert sorted(a["id"] for a in listed.json()["items"]) == [a.id for a in thread[:4]]
    conversation = api.get(f"/api/conversations/{original.conversation_id}").json()
    assert [a["id"] for a in conversation["items"]] == [a.id for a in thread[:4]]
    assert conversation["total"] == 4
    alone = api.get(f"/api/conversations/{unrelated.conversation_id}").json()
    assert [a["id"] for a in alone["items"]] == [unrelated.id]

    assert api.get(f"/api/conversations/{'0' * 32}").status_code == 404
    bad = api.get("/api/conversations/not-a-conversation")
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert api.get("/api/activities", params={"conversation_id": "x' OR 1=1"}).status_code == 422


def test_without_read_activities_no_conversation_is_shown(
    org: Org, thread: list[EmailActivity]
) -> None:
    # A user without the privilege learns nothing of the thread.
    org.tidings.setup.add_user("No Roles", "nora@northwind.example", [], "nora-password")
    client = TestClient(create_app(org.tidings))
    client.auth = ("nora@northwind.example", "nora-password")
    conversation_id = thread[0].conversation_id
    refused = client.get(f"/api/conversations/{conversation_id}")
    assert refused.status_code == 403
    assert "Quote" not in refused.text
    listed = client.get("/api/activities", params={"conversation_id": conversation_id})
    assert listed.status_code == 403


def test_the_console_lists_the_conversation_and_links_the_matched_email(
    org: Org, thread: list[EmailActivity]
) -> None:
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    client = TestClient(create_app(org.tidings), base_url="http://127.0.0.1:8025")
    sign_in(client, *ADMIN)
    original, reply, by_token, by_index, unrelated = thread
    html = client.get(f"/activities/{by_token.id}").text
    section = html[html.index('<h2 id="conversation">') : html.index('<h2 id="why">')]
    linked = [int(i) for i in re.findall(r'<a href="/activities/(\d+)">', section)]
    assert linked == [original.id, reply.id, by_index.id]
    assert "(this email)" in section
    # The correlation explanation links the email this one answers.
    why = html[html.index('<h2 id="why">') :]
    assert f'<a class="matched" href="/activities/{reply.id}">' in why
    assert "tracking token" in why

    alone = client.get(f"/activities/{unrelated.id}").text
    assert "the only one of its conversation" in alone


def test_tidings_explain_prints_the_conversation_and_the_matched_email(
    org: Org, thread: list[EmailActivity], database_url: str
) -> None:
    env = {
        "TIDINGS_DATABASE_URL": database_url,
        "TIDINGS_PARSE_WORKERS": "0",
        "TIDINGS_SECRET_KEYS": TEST_SECRET_KEY,
        "COLUMNS": "200",
    }
    result = CliRunner().invoke(cli, ["explain", "c@contoso.example"], env=env)
    assert result.exit_code == 0, result.output
    original, reply, by_token, by_index, _ = thread
    assert f"Matched email: activity {reply.id}, 'RE: Quote for 500 seats CRM:0001001'" in (
        result.output
    )
    assert f"Conversation: {original.conversation_id}" in result.output
    listed = re.findall(r"^\s+(\d+)\s", result.output, re.M)
    assert [int(i) for i in listed] == [original.id, reply.id, by_token.id, by_index.id]
    assert "<- this email" in result.output


def test_a_reply_written_in_the_crm_joins_the_conversation(
    org: Org, thread: list[EmailActivity]
) -> None:
    # Outgoing email answering an activity carries In-Reply-To and References and joins it;
    # the customer's answer to it then joins by In-Reply-To as well.
    original, _, by_token, _, _ = thread
    caller = Caller(org.users["dana"], frozenset(Privilege))
    sent_id = org.tidings.outgoing.queue(
        caller,
        mailbox_id=org.mailboxes["dana"],
        to=["maria@contoso.example"],
        subject="RE: Quote for 500 seats",
        body="Here it is.",
        reply_to=by_token.id,
    )
    (sent,) = _activities(org, [sent_id])
    assert sent.conversation_id == original.conversation_id
    assert (sent.correlation, sent.matched_activity_id) == (
        CorrelationMethod.IN_REPLY_TO,
        by_token.id,
    )
    assert sent.in_reply_to == "<c@contoso.example>"
    assert sent.references == ("<c@contoso.example>",)
    with org.tidings.uow() as uow:
        (item,) = [i for i in uow.outbox.in_phase(OutboxPhase.QUEUED) if i.activity_id == sent_id]
    raw = item.raw
    assert b"In-Reply-To: <c@contoso.example>" in raw
    assert b"References: <c@contoso.example>" in raw

    answer = make_email(
        subject="RE: RE: Quote", message_id="<f@contoso.example>", in_reply_to=sent.message_id
    )
    (answered,) = _activities(org, [org.deliver(answer).activity_id])
    assert (answered.conversation_id, answered.matched_activity_id) == (
        original.conversation_id,
        sent_id,
    )


def test_a_new_email_written_in_the_crm_starts_its_own_conversation(
    org: Org, thread: list[EmailActivity]
) -> None:
    caller = Caller(org.users["dana"], frozenset(Privilege))
    sent_id = org.tidings.outgoing.queue(
        caller,
        mailbox_id=org.mailboxes["dana"],
        to=["maria@contoso.example"],
        subject="Something new",
        body="Hello",
    )
    (sent,) = _activities(org, [sent_id])
    assert sent.conversation_id not in {a.conversation_id for a in thread}
    assert (sent.in_reply_to, sent.references, sent.matched_activity_id) == (None, (), None)


def test_an_email_tracked_by_hand_joins_the_conversation_it_answers(
    org: Org, thread: list[EmailActivity]
) -> None:
    # Left out by the rules (a folder without a tracking rule), then tracked by hand.
    original = thread[0]
    reply = make_email(
        subject="Re: Quote", message_id="<g@contoso.example>", in_reply_to="<a@contoso.example>"
    )
    left_out = org.deliver(reply, "dana", "Archive")
    assert left_out.outcome is Outcome.NOT_TRACKED
    caller = Caller(org.users["dana"], frozenset(Privilege))
    tracked = org.tidings.manual_tracking.track(caller, left_out.raw_message_id)
    (activity,) = _activities(org, [tracked.activity_id])
    assert (activity.conversation_id, activity.matched_activity_id) == (
        original.conversation_id,
        original.id,
    )
    trace = org.tidings.explain.by_raw_id(left_out.raw_message_id)
    assert trace.matched is not None and trace.matched.id == original.id
    assert trace.conversation_id == original.conversation_id
