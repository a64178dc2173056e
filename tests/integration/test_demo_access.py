"""The demo organization under access levels: its customers have owners, so Dana and Sam,
who hold only the tracking role (User level), each see their own email and customers, and
the administrator sees everything."""

from __future__ import annotations

import pytest

from tidings.bootstrap import Tidings
from tidings.domain.record_fields import RecordQuery
from tidings.domain.records import RecordKind
from tidings.domain.stored import ActivityFilter
from tidings.services.demo import ADMIN_EMAIL, ADMIN_PASSWORD, TRACKING_USERS

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

_KINDS = (RecordKind.ACCOUNT, RecordKind.CONTACT, RecordKind.LEAD, RecordKind.OPPORTUNITY)


def _records(tidings: Tidings, email: str) -> set[str]:
    caller = tidings.access.caller_for(email)
    found = set()
    for kind in (*_KINDS, RecordKind.CASE):
        for record in tidings.records.search(caller, kind, RecordQuery(limit=100)).items:
            found.add(getattr(record, "name", None) or getattr(record, "title", None) or "")
            found.add(getattr(record, "full_name", ""))
    return found - {""}


def _subjects(tidings: Tidings, email: str) -> set[str]:
    caller = tidings.access.caller_for(email)
    page = tidings.queries.activities(ActivityFilter(limit=100), caller)
    return {a.subject for a in page.items}


def test_tracking_users_see_their_own_customers_and_email(tidings: Tidings) -> None:
    tidings.load_demo()
    dana, sam = TRACKING_USERS
    assert _records(tidings, dana) == {
        "Contoso Pharmaceuticals",
        "Fabrikam, Inc.",
        "Maria Garcia",
        "Tom Becker",
        "Aiko Tanaka",
        "Fabrikam Front Desk",
        "Lena Fischer",
        "Contoso: 500 seats",
    }
    assert _records(tidings, sam) == {"Adventure Works", "Omar Haddad"}
    everything = _records(tidings, ADMIN_EMAIL)
    assert everything >= _records(tidings, dana) | _records(tidings, sam)
    assert "Login fails after update" in everything
    assert _subjects(tidings, dana) == {
        "Quote for 500 seats CRM:0001001",
        "Re: Quote for 500 seats CRM:0001001",
        "Implementation timeline",
        "Intro call next week?",
        "Invoice question INV-2291",
        "Site survey photos",
        # Tom's answer to the quote went to Sam; it is regarding Dana's opportunity.
        "RE: Quote for 500 seats CRM:0001001",
    }
    assert _subjects(tidings, sam) == {"RE: Quote for 500 seats CRM:0001001"}


def test_the_demo_users_sign_in_with_the_published_password(tidings: Tidings) -> None:
    tidings.load_demo()
    for email in (ADMIN_EMAIL, *TRACKING_USERS):
        assert tidings.access.sign_in(email, ADMIN_PASSWORD) is not None, email
    # Loading again changes nothing, owners included.
    assert not tidings.load_demo().loaded
    assert _records(tidings, TRACKING_USERS[1]) == {"Adventure Works", "Omar Haddad"}
