"""Conversations: the thread an email activity belongs to, and its bounded References chain.

Every activity has a conversation id. An email that answers a tracked one (found by
correlation: In-Reply-To, References, tracking token, Outlook's conversation index or smart
matching) joins the conversation of the activity it answers; any other email starts one.

A new conversation's id is derived from the identity of the email that starts it, so that
recording the same email again (a replay, a second owner) gives the same conversation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from tidings.domain.activity import CorrelationMethod, EmailActivity

#: The most Message-IDs kept from a References header: the first and the last ones.
#: RFC 5322 §3.6.4 lets a References field be trimmed; what threading needs is its first id
#: (the thread's start) and the newest ones (the direct parents), and a hostile email may
#: carry thousands.
MAX_REFERENCES = 20

#: Conversation ids are this many hex digits.
CONVERSATION_ID_LENGTH = 32


def bound_references(references: Sequence[str], limit: int = MAX_REFERENCES) -> tuple[str, ...]:
    """The References chain kept: the first id and the last ``limit - 1``, in order."""
    if len(references) <= limit:
        return tuple(references)
    return (references[0], *references[len(references) - (limit - 1) :])


def reply_references(
    parent_message_id: str | None, parent_references: Sequence[str]
) -> tuple[str, ...]:
    """The References of a reply: the parent's, then the parent itself (RFC 5322 §3.6.4),
    bounded."""
    chain = [*parent_references, *([parent_message_id] if parent_message_id else [])]
    return bound_references(chain)


def starting_conversation(identity: str) -> str:
    """The id of the conversation an email starts, from the email's identity."""
    digest = hashlib.sha256(f"conversation:{identity}".encode()).hexdigest()
    return digest[:CONVERSATION_ID_LENGTH]


def is_conversation_id(value: str) -> bool:
    """Whether ``value`` has the shape of a conversation id (untrusted input)."""
    return len(value) == CONVERSATION_ID_LENGTH and all(c in "0123456789abcdef" for c in value)


@dataclass(frozen=True)
class Threading:
    """Where a new email stands in its conversation: what an outgoing email is given."""

    conversation_id: str
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    correlation: CorrelationMethod = CorrelationMethod.NONE
    matched_activity_id: int | None = None


def new_thread(message_id: str) -> Threading:
    """An email that answers nothing starts its own conversation."""
    return Threading(starting_conversation(message_id))


def reply_thread(parent: EmailActivity, message_id: str) -> Threading:
    """A reply to ``parent``: it joins the parent's conversation and points at it."""
    return Threading(
        conversation_id=parent.conversation_id or starting_conversation(message_id),
        in_reply_to=parent.message_id,
        references=reply_references(parent.message_id, parent.references),
        correlation=CorrelationMethod.IN_REPLY_TO,
        matched_activity_id=parent.id,
    )
