"""The console's role editor (a level per privilege), business units and queue members, and
its lists within the visitor's access levels."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org, make_email
from tests.integration.test_console import ADMIN, BASE, sign_in
from tidings.domain.access_levels import AccessLevel
from tidings.domain.people import TRACKING_ROLE, Privilege
from tidings.entrypoints.api.app import create_app


@pytest.fixture
def client(org: Org) -> TestClient:
    org.tidings.access.create_admin("Ada Admin", *ADMIN)
    return TestClient(create_app(org.tidings), base_url=BASE)


def _role(org: Org, name: str) -> dict[Privilege, AccessLevel]:
    with org.tidings.uow() as uow:
        role = uow.directory.roles()[org.roles[name]]
    return {p: role.level_of(p) for p in role.privileges}


def test_the_role_editor_saves_a_level_per_privilege(client: TestClient, org: Org) -> None:
    # D365's grid: one row per privilege, one choice of level per row, saved with CSRF.
    token = sign_in(client, *ADMIN)
    role_id = org.roles[TRACKING_ROLE]
    editor = client.get(f"/roles/{role_id}")
    assert editor.status_code == 200
    assert 'name="level-read_activities" value="user"' in editor.text
    assert "Parent: Child business units" in editor.text
    # Organization-only privileges offer no level in between.
    assert 'name="level-write_settings" value="user"' not in editor.text

    levels = {
        "csrf_token": token,
        "level-track_email": "user",
        "level-read_activities": "business_unit",
        "level-read_records": "organization",
        "level-read_mailboxes": "none",
    }
    saved = client.post(f"/roles/{role_id}", data=levels, follow_redirects=False)
    assert saved.status_code == 303, saved.text[saved.text.find('class="error"') :][:300]
    assert _role(org, TRACKING_ROLE) == {
        Privilege.TRACK_EMAIL: AccessLevel.USER,
        Privilege.READ_ACTIVITIES: AccessLevel.BUSINESS_UNIT,
        Privilege.READ_RECORDS: AccessLevel.ORGANIZATION,
    }

    forged = client.post(f"/roles/{role_id}", data={**levels, "csrf_token": "x"})
    assert forged.status_code == 403
    bad = client.post(f"/roles/{role_id}", data={"csrf_token": token, "level-read_users": "user"})
    assert bad.status_code == 422
    assert 'id="f-level-read-users-error">choose one of the listed options<' in bad.text


def test_business_units_and_queue_members_are_managed_on_their_page(
    client: TestClient, org: Org
) -> None:
    token = sign_in(client, *ADMIN)
    created = client.post(
        "/business-units", data={"csrf_token": token, "name": "Sales"}, follow_redirects=False
    )
    assert created.status_code == 303
    with org.tidings.uow() as uow:
        units = {u.name: u for u in uow.directory.business_units()}
    sales = units["Sales"]
    root = next(u for u in units.values() if u.is_root)
    assert sales.parent_id == root.id
    queue = org.add_queue("help")
    dana = org.users["dana"].id
    saved = client.post(
        f"/queues/{queue.id}/members",
        data={"csrf_token": token, "member": str(dana), "unit": str(sales.id)},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    with org.tidings.uow() as uow:
        stored = uow.directory.get_queue(queue.id or 0)
    assert stored is not None
    assert (stored.member_ids, stored.business_unit_id) == ({dana}, sales.id)
    moved = client.post(
        f"/users/{dana}/business-unit",
        data={"csrf_token": token, "unit": str(sales.id)},
        follow_redirects=False,
    )
    assert moved.status_code == 303
    assert "Sales" in client.get(f"/users/{dana}").text
    refused = client.post(f"/business-units/{sales.id}/delete", data={"csrf_token": token})
    assert refused.status_code == 409
    assert "still has users, queues or units in it" in refused.text


def test_a_user_level_visitor_lists_only_their_own_activities(client: TestClient, org: Org) -> None:
    # Dana (Tidings App User) and Sam each have a tracked email; Dana's console shows hers.
    org.add_user("sam")
    org.deliver(make_email(subject="For Dana"))
    org.deliver(
        make_email(to="sam@northwind.example", subject="For Sam", message_id="<s@c.example>"),
        "sam",
    )
    org.tidings.people.set_password(
        org.tidings.access.caller_for("ada@northwind.example"),
        org.users["dana"].id or 0,
        "dana-password",
    )
    sign_in(client, "dana@northwind.example", "dana-password")
    page = client.get("/activities")
    assert page.status_code == 200
    assert "For Dana" in page.text
    assert "For Sam" not in page.text
    sign_in(client, *ADMIN)
    assert "For Sam" in client.get("/activities").text
