"""The conversation fields of email written in the CRM: a new thread, or a reply's place in
the thread of the activity it answers (In-Reply-To, References, conversation id)."""

from __future__ import annotations

from tidings.domain.conversation import Threading, new_thread, reply_thread
from tidings.domain.errors import NotFoundError
from tidings.domain.people import Caller, Privilege
from tidings.services.ports import UnitOfWork


def threading_for(
    uow: UnitOfWork, caller: Caller, message_id: str, reply_to: int | None
) -> Threading:
    """Where an email with ``message_id`` stands: answering activity ``reply_to``, or new.

    Answering an activity needs the privilege to read it, at a level that reaches it.
    """
    if reply_to is None:
        return new_thread(message_id)
    parent = uow.activities.get(reply_to, scope=caller.scope(Privilege.READ_ACTIVITIES))
    if parent is None:
        raise NotFoundError(f"no email activity with id {reply_to} to reply to")
    return reply_thread(parent, message_id)
