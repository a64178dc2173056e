"""Access levels: how far each privilege a security role holds reaches, as in Dynamics 365.

A privilege says *what* a user may do (read activities, write records …); its access level
says *whose* things: the user's own (**User**), those of owners in the user's business unit
(**Business unit**), in that unit and the units below it (**Parent: Child business units**),
or everyone's (**Organization**). A user holding a privilege through several roles gets the
deepest level any of them grants.

What is "the user's" differs per kind of thing (see ``ActivityFacts`` and ``OwnedFacts``):

- an email activity is the user's when the user owns it or the mailbox it was tracked in or
  sent from, takes part in it (an activity party), is a member of the queue that owns it (or
  whose mailbox it was tracked in), or owns the record it is regarding;
- a mailbox is the user's when the user owns it, or it is the mailbox of a queue the user is
  a member of;
- a CRM record, a webhook subscription or personal options are the user's when the user
  owns them.

At Business unit (or Parent: Child) level the user also reaches everything whose owner —
user or queue — belongs to one of the units in reach. Storage turns a ``Scope`` into one SQL
condition with these same rules; the predicates here are their specification.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class AccessLevel(enum.StrEnum):
    """D365's access levels, shallowest first (the console shows them as circles)."""

    NONE = "none"
    USER = "user"
    BUSINESS_UNIT = "business_unit"
    PARENT_CHILD = "parent_child_business_units"
    ORGANIZATION = "organization"

    @property
    def depth(self) -> int:
        return _ORDER.index(self)

    @property
    def label(self) -> str:
        return _LABELS[self]


_ORDER = list(AccessLevel)
_LABELS = {
    AccessLevel.NONE: "None",
    AccessLevel.USER: "User",
    AccessLevel.BUSINESS_UNIT: "Business unit",
    AccessLevel.PARENT_CHILD: "Parent: Child business units",
    AccessLevel.ORGANIZATION: "Organization",
}


def deepest(levels: Iterable[AccessLevel]) -> AccessLevel:
    """The widest of ``levels``; ``NONE`` for none at all."""
    return max(levels, key=lambda level: level.depth, default=AccessLevel.NONE)


@dataclass(frozen=True)
class BusinessUnit:
    """A unit of the organization; the root (no parent) is the organization itself."""

    name: str
    parent_id: int | None = None
    id: int | None = None

    @property
    def is_root(self) -> bool:
        return self.parent_id is None


def units_below(units: Iterable[BusinessUnit], unit_id: int) -> frozenset[int]:
    """``unit_id`` and every unit under it, however deep."""
    children: dict[int, list[int]] = {}
    for unit in units:
        if unit.parent_id is not None and unit.id is not None:
            children.setdefault(unit.parent_id, []).append(unit.id)
    found = {unit_id}
    pending = [unit_id]
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return frozenset(found)


def would_make_cycle(units: Iterable[BusinessUnit], unit_id: int, new_parent_id: int) -> bool:
    """Whether putting ``unit_id`` under ``new_parent_id`` would make the tree a loop."""
    return new_parent_id in units_below(units, unit_id)


@dataclass(frozen=True)
class Scope:
    """Whose things one privilege of one caller reaches: what storage turns into SQL.

    ``business_unit_ids`` is empty at User level, holds the caller's unit at Business unit
    level and the unit with all units below it at Parent: Child level; Organization level
    needs neither.
    """

    level: AccessLevel
    user_id: int
    queue_ids: frozenset[int] = frozenset()
    business_unit_ids: frozenset[int] = frozenset()

    @property
    def is_organization(self) -> bool:
        return self.level is AccessLevel.ORGANIZATION

    @classmethod
    def organization(cls) -> Scope:
        """Everything: what the server's own work (sync, ingest, the CLI operator) sees."""
        return cls(AccessLevel.ORGANIZATION, 0)


# The rules, as predicates over what storage knows of a thing --------------------------------


@dataclass(frozen=True)
class OwnedFacts:
    """What decides access to a thing with one owner: a record, mailbox or subscription.

    ``owner_user_id`` is set for a user-owned thing, ``owner_queue_id`` for a queue-owned
    one; ``owner_business_unit_id`` is the owner's unit.
    """

    owner_user_id: int | None = None
    owner_queue_id: int | None = None
    owner_business_unit_id: int | None = None


@dataclass(frozen=True)
class ActivityFacts:
    """What decides access to an email activity."""

    owner: OwnedFacts
    #: The owner of the mailbox it was tracked in or sent from, when it has one.
    mailbox_owner: OwnedFacts | None = None
    #: Users among its activity parties (from, to, cc, bcc).
    party_user_ids: frozenset[int] = frozenset()
    #: The user owning the record it is regarding.
    regarding_owner_id: int | None = None


def is_own(scope: Scope, owned: OwnedFacts) -> bool:
    """User level: the caller owns it, or it belongs to a queue the caller is a member of."""
    if owned.owner_user_id is not None and owned.owner_user_id == scope.user_id:
        return True
    return owned.owner_queue_id is not None and owned.owner_queue_id in scope.queue_ids


def may_reach(scope: Scope, owned: OwnedFacts) -> bool:
    """Whether ``scope`` reaches a thing with one owner (a record, a mailbox …)."""
    if scope.level is AccessLevel.NONE:
        return False
    if scope.is_organization or is_own(scope, owned):
        return True
    return owned.owner_business_unit_id in scope.business_unit_ids


def may_reach_activity(scope: Scope, activity: ActivityFacts) -> bool:
    """Whether ``scope`` reaches an email activity."""
    if scope.level is AccessLevel.NONE:
        return False
    if scope.is_organization or may_reach(scope, activity.owner):
        return True
    if activity.mailbox_owner is not None and is_own(scope, activity.mailbox_owner):
        return True
    if scope.user_id in activity.party_user_ids:
        return True
    return activity.regarding_owner_id is not None and activity.regarding_owner_id == scope.user_id
