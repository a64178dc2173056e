"""Conversations in the domain: bounded References, conversation ids, a reply's threading."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tidings.domain.activity import (
    ActivityStatus,
    CorrelationMethod,
    Direction,
    EmailActivity,
)
from tidings.domain.conversation import (
    MAX_REFERENCES,
    bound_references,
    is_conversation_id,
    new_thread,
    reply_references,
    reply_thread,
    starting_conversation,
)
from tidings.domain.correlation import choose_regarding
from tidings.domain.folders import FolderTrackingRule
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.tracking import Correlation

DEAL = RecordRef(RecordKind.OPPORTUNITY, 1)


def _ids(count: int) -> list[str]:
    return [f"<{n}@x.example>" for n in range(count)]


def test_a_short_references_chain_is_kept_whole() -> None:
    assert bound_references(_ids(MAX_REFERENCES)) == tuple(_ids(MAX_REFERENCES))


def test_a_long_chain_keeps_its_first_id_and_the_newest_ones() -> None:
    # RFC 5322 §3.6.4: the thread's first message and its latest parents matter most.
    ids = _ids(5000)
    kept = bound_references(ids)
    assert kept == (ids[0], *ids[-(MAX_REFERENCES - 1) :])


@given(st.lists(st.text(min_size=1, max_size=5), max_size=200))
def test_no_chain_is_kept_longer_than_the_bound(ids: list[str]) -> None:
    kept = bound_references(ids)
    assert len(kept) == min(len(ids), MAX_REFERENCES)
    assert kept[:1] == tuple(ids[:1])
    assert kept[-1:] == tuple(ids[-1:])


def test_a_conversation_id_is_derived_from_the_email_that_starts_it() -> None:
    # The same email recorded again (a replay, a second owner) starts the same conversation.
    first = starting_conversation("<a@x.example>")
    assert first == starting_conversation("<a@x.example>")
    assert first != starting_conversation("<b@x.example>")
    assert is_conversation_id(first)
    assert not is_conversation_id("' OR 1=1 --")


def test_a_reply_joins_its_parents_conversation_and_extends_its_references() -> None:
    parent = EmailActivity(
        owner=RecordRef(RecordKind.USER, 1),
        mailbox_id=1,
        subject="Quote",
        direction=Direction.INCOMING,
        status=ActivityStatus.RECEIVED,
        message_id="<p@x.example>",
        received_at=None,
        references=("<root@x.example>",),
        conversation_id="c" * 32,
        id=7,
    )
    thread = reply_thread(parent, "<mine@y.example>")
    assert (thread.conversation_id, thread.in_reply_to, thread.matched_activity_id) == (
        "c" * 32,
        "<p@x.example>",
        7,
    )
    assert thread.references == ("<root@x.example>", "<p@x.example>")
    assert thread.correlation is CorrelationMethod.IN_REPLY_TO
    assert new_thread("<mine@y.example>").conversation_id == starting_conversation(
        "<mine@y.example>"
    )


def test_a_reply_to_a_long_thread_keeps_its_references_bounded() -> None:
    chain = reply_references("<p@x.example>", _ids(100))
    assert len(chain) == MAX_REFERENCES
    assert (chain[0], chain[-1]) == ("<0@x.example>", "<p@x.example>")


def test_a_folder_rules_regarding_keeps_the_match_and_its_conversation() -> None:
    # The admin's regarding record wins; the email still answers what correlation found.
    found = Correlation(CorrelationMethod.IN_REPLY_TO, 3, None, "d" * 32)
    chosen = choose_regarding(found, FolderTrackingRule(1, "Contoso", DEAL))
    assert (chosen.method, chosen.activity_id, chosen.regarding, chosen.conversation_id) == (
        CorrelationMethod.FOLDER_RULE,
        3,
        DEAL,
        "d" * 32,
    )
