"""The Email server profiles and Users lists as grids, on SQLite and PostgreSQL: sorted,
filtered by text, kind or status, paged with totals and exported to CSV by the database,
for those who hold the (Organization-wide) privilege to read them only."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi.testclient import TestClient

from tests.builders import Org
from tests.integration.test_console import BASE, sign_in, signed_in_admin
from tidings.domain.people import Caller, Privilege
from tidings.domain.records import RecordKind, RecordRef
from tidings.domain.server_profile import CredentialSource, ServerProfile, ServerProfileKind
from tidings.entrypoints.api.app import create_app
from tidings.services.server_profiles import ProfileSecret

SECRET = "profile-secret-never-shown"


@pytest.fixture
def client(org: Org) -> TestClient:
    return signed_in_admin(org)


def _add_profiles(org: Org, count: int) -> list[int]:
    """``count`` profiles: every third Gmail, the others IMAP; profile n has n % 4 mailboxes,
    each of a user of its own."""
    ids = []
    with org.tidings.uow() as uow:
        for n in range(count):
            gmail = n % 3 == 0
            ids.append(
                uow.server_profiles.add(
                    ServerProfile(
                        name=f"Profile {n:02d}",
                        kind=ServerProfileKind.GMAIL if gmail else ServerProfileKind.IMAP_SMTP,
                        incoming_host="" if gmail else f"imap{n:02d}.northwind.example",
                        outgoing_host="" if gmail else f"smtp{n:02d}.northwind.example",
                        credential_source=CredentialSource.PROFILE,
                    )
                )
            )
        uow.commit()
    admin = Caller(org.users["dana"], frozenset(Privilege))
    org.tidings.server_profiles.set_credentials(admin, ids[0], ProfileSecret("svc", SECRET))
    for n, profile_id in enumerate(ids):
        for m in range(n % 4):
            address = f"box{n:02d}-{m}@northwind.example"
            owner = org.tidings.setup.add_user(f"Box {n}-{m}", address, ["tracking"])
            org.tidings.mailbox_setup.create(
                admin,
                address=address,
                owner=RecordRef(RecordKind.USER, owner),
                profile_id=profile_id,
            )
    return ids


def _names(html: str, path: str) -> list[str]:
    table = html.split("<tbody>")[1].split("</tbody>")[0]
    return re.findall(rf'<a href="/{path}/\d+">([^<]+)</a>', table)


def _range(html: str, element: str) -> str:
    found = re.search(rf'id="{element}"[^>]*>([^<]+)<', html)
    assert found, "the grid says which rows it shows"
    return found.group(1).strip()


def _csv(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_profile_grid_sorts_filters_pages_and_exports(org: Org, client: TestClient) -> None:
    _add_profiles(org, 30)
    first = client.get("/profiles?size=25")
    assert first.status_code == 200
    assert _range(first.text, "profile-range") == "1–25 of 30 email server profiles"
    assert _names(first.text, "profiles")[:2] == ["Profile 00", "Profile 01"]
    last = client.get("/profiles?size=25&page=2")
    assert _range(last.text, "profile-range") == "26–30 of 30 email server profiles"
    assert _names(last.text, "profiles") == [f"Profile {n}" for n in range(25, 30)]

    # Most mailboxes first (3 each for 3, 7 … 27); equal ones keep one order: by id, reversed too.
    busiest = _names(client.get("/profiles?sort=-mailboxes").text, "profiles")
    assert busiest[:3] == ["Profile 27", "Profile 23", "Profile 19"]
    # Text finds names and host names; the kind narrows.
    assert _names(client.get("/profiles?q=imap1").text, "profiles") == [
        f"Profile {n}" for n in (10, 11, 13, 14, 16, 17, 19)
    ]
    gmail = client.get("/profiles?kind=gmail")
    assert _range(gmail.text, "profile-range") == "1–10 of 10 email server profiles"
    unknown = client.get("/profiles?kind=carrier-pigeon&sort=password")
    assert unknown.status_code == 200
    assert "unknown kind of profile" in unknown.text and "cannot sort by" in unknown.text

    exported = client.get("/profiles/export.csv?kind=gmail&sort=-name")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = _csv(exported.text)
    assert rows[0][:3] == ["Name", "Kind", "Incoming server"]
    assert [r[0] for r in rows[1:]] == [f"Profile {n:02d}" for n in range(27, -1, -3)]
    assert SECRET not in exported.text and SECRET not in first.text


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_the_user_grid_sorts_filters_pages_and_exports(org: Org, client: TestClient) -> None:
    for n in range(28):
        org.tidings.setup.add_user(f"Person {n:02d}", f"p{n:02d}@staff.example", ["tracking"])
    admin = Caller(org.users["dana"], frozenset(Privilege))
    disabled = org.tidings.people.find_user(admin, "p05@staff.example")
    org.tidings.people.deactivate_user(admin, disabled.id)
    everyone = client.get("/users?size=25")
    assert everyone.status_code == 200
    total = len(org.users) + 1 + 28  # the org's users, Ada, and the 28 staff
    assert _range(everyone.text, "user-range") == f"1–25 of {total} users"
    by_email = _names(client.get("/users?q=staff&sort=-email").text, "users")
    assert by_email[:2] == ["Person 27", "Person 26"]
    assert len(by_email) == 28
    assert _names(client.get("/users?status=disabled").text, "users") == ["Person 05"]
    assert "unknown status" in client.get("/users?status=asleep").text

    rows = _csv(client.get("/users/export.csv?q=staff").text)
    assert rows[0] == ["Full name", "Email", "Security roles", "Status", "Id"]
    assert [r[1] for r in rows[1:]] == [f"p{n:02d}@staff.example" for n in range(28)]
    assert rows[6][2:4] == ["Tidings App User", "Disabled"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_grids_and_their_exports_need_the_privilege_to_read_them(org: Org) -> None:
    org.tidings.setup.add_user(
        "Sam Seller", "sam.seller@northwind.example", ["tracking"], "pw-12345"
    )
    seller = TestClient(create_app(org.tidings), base_url=BASE)
    sign_in(seller, "sam.seller@northwind.example", "pw-12345")
    for url in ("/profiles", "/profiles/export.csv", "/users", "/users/export.csv"):
        assert seller.get(url).status_code == 403, url
