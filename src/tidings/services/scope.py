"""Access checks for one thing at a time, beside the queries that apply a caller's scope.

Lists and reads put the caller's ``Scope`` (``Caller.reach`` / ``Caller.scope``) into the
storage query. What is checked here instead is a thing not read through such a query: the
owner a new mailbox is given, the user whose personal options are asked for.
"""

from __future__ import annotations

from tidings.domain.access_levels import OwnedFacts, Scope, may_reach
from tidings.domain.errors import NotFoundError
from tidings.domain.records import RecordKind, RecordRef
from tidings.services.ports import UnitOfWork


def owner_facts(uow: UnitOfWork, owner: RecordRef) -> OwnedFacts | None:
    """What decides access to things ``owner`` (a user or a queue) owns; None if unknown."""
    if owner.kind is RecordKind.USER:
        user = uow.directory.get_user(owner.id)
        return None if user is None else OwnedFacts(owner.id, None, user.business_unit_id)
    if owner.kind is RecordKind.QUEUE:
        queue = uow.directory.get_queue(owner.id)
        return None if queue is None else OwnedFacts(None, owner.id, queue.business_unit_id)
    return None


def require_owner_in_reach(uow: UnitOfWork, scope: Scope, owner: RecordRef) -> None:
    """``NotFoundError`` unless ``scope`` reaches what ``owner`` owns: out of reach reads as
    not there, so that its existence is not told."""
    facts = owner_facts(uow, owner)
    if facts is None or not may_reach(scope, facts):
        raise NotFoundError(f"no {owner.kind.value} with id {owner.id}")
