"""A caller's ``Scope`` as one SQL condition, applied inside the query that reads.

The rules are ``domain.access_levels``' predicates, translated: each function returns a
condition to AND into a statement's WHERE clause, or ``None`` when the scope reaches
everything (Organization level), so that query stays as it was. Every lookup is an indexed
``IN (SELECT …)``: activities by owner (``owner_kind, owner_id``), parties by
``party_kind, party_id``, records by ``owner_id``, users and queues by ``business_unit_id``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, ColumnElement, CompoundSelect, and_, false, or_, select, true, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal

from tidings.adapters.storage import tables as t
from tidings.domain.access_levels import AccessLevel, Scope
from tidings.domain.records import RecordKind

_A = t.email_activities.c
_M = t.mailboxes.c
_P = t.activity_parties.c

#: The records whose owner makes activities regarding them the owner's.
RECORD_TABLES = {
    RecordKind.ACCOUNT: t.accounts,
    RecordKind.CONTACT: t.contacts,
    RecordKind.LEAD: t.leads,
    RecordKind.OPPORTUNITY: t.opportunities,
    RecordKind.CASE: t.cases,
}

Condition = ColumnElement[bool]


def owner_condition(scope: Scope, kind: Any, ident: Any) -> Condition | None:
    """Things owned by a user or queue (``kind``, ``ident`` columns): mailboxes, activities."""
    if scope.is_organization:
        return None
    if scope.level is AccessLevel.NONE:
        return false()
    return or_(*_owner_reach(scope, kind, ident))


def _owner_reach(scope: Scope, kind: Any, ident: Any) -> list[Condition]:
    """The owners ``scope`` reaches, one indexed condition each."""
    reach = [and_(kind == RecordKind.USER.value, ident == scope.user_id)]
    if scope.queue_ids:
        reach.append(and_(kind == RecordKind.QUEUE.value, ident.in_(sorted(scope.queue_ids))))
    if scope.business_unit_ids:
        units = sorted(scope.business_unit_ids)
        reach.append(
            and_(
                kind == RecordKind.USER.value,
                ident.in_(select(t.users.c.id).where(t.users.c.business_unit_id.in_(units))),
            )
        )
        reach.append(
            and_(
                kind == RecordKind.QUEUE.value,
                ident.in_(select(t.queues.c.id).where(t.queues.c.business_unit_id.in_(units))),
            )
        )
    return reach


def user_owned_condition(scope: Scope, owner_id: Any) -> Condition | None:
    """Things a user owns (``owner_id`` column): CRM records, webhook subscriptions."""
    if scope.is_organization:
        return None
    if scope.level is AccessLevel.NONE:
        return false()
    reach = [owner_id == scope.user_id]
    if scope.business_unit_ids:
        units = sorted(scope.business_unit_ids)
        reach.append(
            owner_id.in_(select(t.users.c.id).where(t.users.c.business_unit_id.in_(units)))
        )
    return or_(*reach)


def mailbox_condition(scope: Scope) -> Condition | None:
    """Mailboxes: the caller's own, their queues', or their units' owners'."""
    return owner_condition(scope, _M.owner_kind, _M.owner_id)


def activity_condition(scope: Scope) -> Condition | None:
    """Email activities the scope reaches (see ``domain.access_levels``).

    One ``id IN (… UNION …)``: each branch is an index lookup (activities by owner, by
    mailbox, by regarding record; parties by user), so the database reads only the ids in
    reach, never every activity, however the outer query filters, sorts and pages.
    """
    if scope.is_organization:
        return None
    if scope.level is AccessLevel.NONE:
        return false()
    a = t.email_activities.alias("reach")
    branches = [
        *(select(a.c.id).where(c) for c in _owner_reach(scope, a.c.owner_kind, a.c.owner_id)),
        # Tracked in (or sent from) the caller's own mailbox or a member queue's: a User-level
        # rule; at Business unit level the owners' branches above already reach further.
        select(a.c.id).where(a.c.mailbox_id.in_(select(_M.id).where(_own_mailboxes(scope)))),
        select(_P.activity_id).where(
            _P.party_kind == RecordKind.USER.value, _P.party_id == scope.user_id
        ),
        *(
            select(a.c.id).where(
                a.c.regarding_kind == kind.value,
                a.c.regarding_id.in_(select(table.c.id).where(table.c.owner_id == scope.user_id)),
            )
            for kind, table in RECORD_TABLES.items()
        ),
    ]
    reach = union(*branches)
    if scope.level is AccessLevel.USER:
        return _FoundAmong(_A.id, reach)
    return _A.id.in_(reach)


class _FoundAmong(ColumnElement[bool]):
    """``column IN (ids)`` for a set of ids that one person's reach bounds; on PostgreSQL
    written ``column = ANY(ARRAY(ids))``.

    PostgreSQL turns ``IN (subquery)`` into a join, and for a page of a person's activities
    sorted by time it chose to read the whole table and hash it against their ids (a
    sequential read of every activity of the organization for each page). Collected into
    an array first, the ids are looked up one by one by primary key: as many reads as the
    person has activities. A Business unit's reach may be most of the table, where the join
    is the better plan, so only the User level's is written this way. SQLite already reads
    ``IN`` so, from the list.
    """

    inherit_cache = True
    type = Boolean()
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own declaration, read as a class attribute
        ("column", InternalTraversal.dp_clauseelement),
        ("ids", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], ids: CompoundSelect[Any]) -> None:
        self.column = column
        self.ids = ids


@compiles(_FoundAmong)
def _in_list(element: _FoundAmong, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(element.ids), **kw)


@compiles(_FoundAmong, "postgresql")
def _in_array(element: _FoundAmong, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY(ARRAY({compiler.process(element.ids, **kw)}))"


def _own_mailboxes(scope: Scope) -> Condition:
    own = Scope(AccessLevel.USER, scope.user_id, scope.queue_ids)
    return or_(*_owner_reach(own, _M.owner_kind, _M.owner_id))


def _always(condition: Condition | None) -> Condition:
    return true() if condition is None else condition


def raw_message_condition(scope: Scope, raw_id: Any, mailbox_id: Any) -> Condition | None:
    """A kept email (and so its explanation): reached when its mailbox is, or when an
    activity recorded from it is."""
    reach = activity_condition(scope)
    if reach is None:
        return None
    mailboxes = select(_M.id).where(_always(mailbox_condition(scope)))
    activities = select(_A.raw_message_id).where(_A.raw_message_id.is_not(None), reach)
    return or_(mailbox_id.in_(mailboxes), raw_id.in_(activities))
