"""Access levels: whose things each privilege reaches, as Dynamics 365's security model has it."""

from __future__ import annotations

import pytest

from tidings.domain.access_levels import (
    AccessLevel,
    ActivityFacts,
    BusinessUnit,
    OwnedFacts,
    Scope,
    deepest,
    may_reach,
    may_reach_activity,
    units_below,
    would_make_cycle,
)
from tidings.domain.errors import NotAuthorizedError
from tidings.domain.people import (
    Caller,
    Privilege,
    SecurityRole,
    User,
    levels_of,
    privileges_of,
)

ME, COLLEAGUE, STRANGER = 1, 2, 3
SALES, SUPPORT, EUROPE = 10, 20, 30
HELPDESK = 7  # a queue


def user_scope(queues: frozenset[int] = frozenset()) -> Scope:
    return Scope(AccessLevel.USER, ME, queues)


def unit_scope() -> Scope:
    return Scope(AccessLevel.BUSINESS_UNIT, ME, frozenset(), frozenset({SALES}))


def owned_by(user: int | None = None, queue: int | None = None, unit: int = SUPPORT) -> OwnedFacts:
    return OwnedFacts(user, queue, unit)


def test_levels_are_ordered_from_none_to_organization_with_d365s_names() -> None:
    # The console's select lists them in this order, under D365's names.
    assert [level.label for level in AccessLevel] == [
        "None",
        "User",
        "Business unit",
        "Parent: Child business units",
        "Organization",
    ]
    assert deepest([AccessLevel.USER, AccessLevel.ORGANIZATION, AccessLevel.BUSINESS_UNIT]) is (
        AccessLevel.ORGANIZATION
    )
    assert deepest([]) is AccessLevel.NONE


def test_units_below_a_unit_are_all_its_descendants_and_itself() -> None:
    # Parent: Child level reaches the whole subtree, however deep.
    units = [
        BusinessUnit("Org", None, 1),
        BusinessUnit("Sales", 1, SALES),
        BusinessUnit("Europe", SALES, EUROPE),
        BusinessUnit("Support", 1, SUPPORT),
    ]
    assert units_below(units, SALES) == {SALES, EUROPE}
    assert units_below(units, 1) == {1, SALES, EUROPE, SUPPORT}
    assert would_make_cycle(units, SALES, EUROPE)
    assert not would_make_cycle(units, EUROPE, SUPPORT)


def test_user_level_reaches_only_what_the_user_or_their_queues_own() -> None:
    # A mailbox or record: one's own, or a queue's one is a member of.
    assert may_reach(user_scope(), owned_by(user=ME))
    assert not may_reach(user_scope(), owned_by(user=COLLEAGUE, unit=SALES))
    assert not may_reach(user_scope(), owned_by(queue=HELPDESK))
    assert may_reach(user_scope(frozenset({HELPDESK})), owned_by(queue=HELPDESK))


def test_business_unit_level_reaches_owners_in_the_callers_unit() -> None:
    # Users and queues of the caller's unit; nobody's of other units.
    assert may_reach(unit_scope(), owned_by(user=COLLEAGUE, unit=SALES))
    assert may_reach(unit_scope(), owned_by(queue=HELPDESK, unit=SALES))
    assert not may_reach(unit_scope(), owned_by(user=STRANGER, unit=SUPPORT))
    assert may_reach(unit_scope(), owned_by(user=ME, unit=SUPPORT))


def test_organization_reaches_everything_and_none_reaches_nothing() -> None:
    everything = Scope(AccessLevel.ORGANIZATION, ME)
    nothing = Scope(AccessLevel.NONE, ME)
    assert may_reach(everything, owned_by(user=STRANGER))
    assert not may_reach(nothing, owned_by(user=ME))
    assert not may_reach_activity(nothing, ActivityFacts(owned_by(user=ME)))


@pytest.mark.parametrize(
    ("facts", "seen"),
    [
        (ActivityFacts(owned_by(user=ME)), True),
        (ActivityFacts(owned_by(user=STRANGER)), False),
        # Tracked in the caller's mailbox though owned by the queue that also received it.
        (ActivityFacts(owned_by(queue=HELPDESK), mailbox_owner=owned_by(user=ME)), True),
        # The caller is one of its activity parties (from, to, cc, bcc).
        (ActivityFacts(owned_by(user=STRANGER), party_user_ids=frozenset({ME})), True),
        # Regarding a record the caller owns.
        (ActivityFacts(owned_by(user=STRANGER), regarding_owner_id=ME), True),
        (ActivityFacts(owned_by(user=STRANGER), regarding_owner_id=COLLEAGUE), False),
    ],
)
def test_an_activity_is_the_users_when_they_own_it_take_part_or_own_its_regarding(
    facts: ActivityFacts, seen: bool
) -> None:
    # D365 User level for email activities, as Tidings defines "the user's".
    assert may_reach_activity(user_scope(), facts) is seen


def test_a_queues_activity_is_seen_by_its_members_only_at_user_level() -> None:
    facts = ActivityFacts(owned_by(queue=HELPDESK))
    assert may_reach_activity(user_scope(frozenset({HELPDESK})), facts)
    assert not may_reach_activity(user_scope(), facts)


def test_a_privilege_held_through_several_roles_gets_the_deepest_level() -> None:
    # Salesperson reads activities in the unit; another role adds Organization.
    narrow = SecurityRole("Narrow", id=1).with_levels(
        {Privilege.READ_ACTIVITIES: AccessLevel.USER, Privilege.READ_RECORDS: AccessLevel.USER}
    )
    wide = SecurityRole("Wide", id=2).with_levels(
        {Privilege.READ_ACTIVITIES: AccessLevel.ORGANIZATION}
    )
    roles = {1: narrow, 2: wide}
    levels = levels_of(frozenset({1, 2}), roles)
    assert levels == {
        Privilege.READ_ACTIVITIES: AccessLevel.ORGANIZATION,
        Privilege.READ_RECORDS: AccessLevel.USER,
    }
    assert privileges_of(frozenset({1}), roles) == {
        Privilege.READ_ACTIVITIES,
        Privilege.READ_RECORDS,
    }


def test_setting_a_privilege_to_none_removes_it_from_the_role() -> None:
    role = SecurityRole("R").with_levels(
        {Privilege.READ_RECORDS: AccessLevel.NONE, Privilege.TRACK_EMAIL: AccessLevel.USER}
    )
    assert role.privileges == {Privilege.TRACK_EMAIL}
    assert role.level_of(Privilege.READ_RECORDS) is AccessLevel.NONE


def test_a_privilege_held_without_a_level_is_organization_wide() -> None:
    # Roles made before access levels keep what they allowed.
    role = SecurityRole("Old", frozenset({Privilege.READ_ACTIVITIES}))
    assert role.level_of(Privilege.READ_ACTIVITIES) is AccessLevel.ORGANIZATION


def caller(level: AccessLevel, unit: int | None = SALES) -> Caller:
    return Caller(
        User("Me", "me@example.com", id=ME, business_unit_id=unit),
        frozenset({Privilege.READ_ACTIVITIES}),
        {Privilege.READ_ACTIVITIES: level},
        unit,
        frozenset({SALES, EUROPE}),
        frozenset({HELPDESK}),
    )


def test_a_caller_becomes_a_scope_per_privilege() -> None:
    # The one place a caller turns into what storage filters by.
    assert caller(AccessLevel.USER).scope(Privilege.READ_ACTIVITIES) == Scope(
        AccessLevel.USER, ME, frozenset({HELPDESK})
    )
    assert caller(AccessLevel.BUSINESS_UNIT).scope(Privilege.READ_ACTIVITIES) == Scope(
        AccessLevel.BUSINESS_UNIT, ME, frozenset({HELPDESK}), frozenset({SALES})
    )
    parent_child = caller(AccessLevel.PARENT_CHILD).scope(Privilege.READ_ACTIVITIES)
    assert parent_child.business_unit_ids == {SALES, EUROPE}
    assert caller(AccessLevel.ORGANIZATION).scope(Privilege.READ_ACTIVITIES).is_organization


def test_a_caller_outside_every_unit_reaches_only_their_own_at_unit_level() -> None:
    scope = caller(AccessLevel.BUSINESS_UNIT, unit=None).scope(Privilege.READ_ACTIVITIES)
    assert scope.level is AccessLevel.USER


def test_a_privilege_not_held_is_refused_or_reaches_nothing() -> None:
    me = caller(AccessLevel.USER)
    with pytest.raises(NotAuthorizedError):
        me.scope(Privilege.READ_RECORDS)
    assert me.reach(Privilege.READ_RECORDS).level is AccessLevel.NONE
